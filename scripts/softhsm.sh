#!/usr/bin/env bash
# Creates fresh SoftHSM2 tokens in a temporary directory and prints the `export` lines
# that point passport (and SoftHSM2) at them. For tests and demos only: the PINs are
# fixed test values and are printed.
#
#   eval "$(scripts/softhsm.sh)"                 # one token labelled "passport"
#   eval "$(scripts/softhsm.sh alice bob carol)" # several tokens
#
# Prints: SOFTHSM2_CONF, PASSPORT_PKCS11_MODULE, PASSPORT_PKCS11_PIN, PASSPORT_TOKEN_URI
# (the first token), PASSPORT_SOFTHSM_DIR.
set -euo pipefail

command -v softhsm2-util >/dev/null || {
  echo "softhsm.sh: softhsm2-util not found; install Debian's softhsm2 (scripts/test.sh does)" >&2
  exit 1
}
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
         /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && { module="$m"; break; }
done
[ -n "$module" ] || { echo "softhsm.sh: libsofthsm2.so not found" >&2; exit 1; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/passport-softhsm.XXXXXX")"
mkdir -p "$dir/tokens"
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
labels=("$@")
[ ${#labels[@]} -gt 0 ] || labels=(passport)
for label in "${labels[@]}"; do
  softhsm2-util --init-token --free --label "$label" --so-pin 87654321 --pin 123456 >/dev/null
done
echo "export PASSPORT_SOFTHSM_DIR='$dir'"
echo "export SOFTHSM2_CONF='$dir/softhsm2.conf'"
echo "export PASSPORT_PKCS11_MODULE='$module'"
echo "export PASSPORT_PKCS11_PIN='123456'"
echo "export PASSPORT_TOKEN_URI='pkcs11:token=${labels[0]}'"
