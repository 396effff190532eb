#!/usr/bin/env bash
# Brings up a software TPM 2.0 PKCS#11 token (swtpm + a private D-Bus session bus +
# tpm2-abrmd + tpm2-pkcs11) in a directory of its own, with no hardware, no system bus and
# no systemd, so that several can run side by side. For tests and demos only: the PINs are
# fixed test values (SO 87654321, user 123456, as in softhsm.sh) and are printed.
#
#   eval "$(scripts/swtpm.sh start DIR passport [LABEL…])"  # DIR empty or absent; a DIR
#                         # from an earlier start is restarted with its TPM state and tokens
#   scripts/swtpm.sh adopt DIR LABEL KEYLABEL ALGORITHM [ID]  # tpm2_ptool addkey on token
#                         # LABEL: ALGORITHM e.g. aes256, hmac:sha256; or aes256-encrypt, an
#                         # AES key the TPM lets only encrypt (tpm2_create + tpm2_ptool link).
#                         # ID: CKA_ID as text (its bytes are the characters). Prints the
#                         # key's CKA_ID in hex.
#   eval "$(scripts/swtpm.sh env DIR [LABEL])"   # the export lines again (LABEL defaults
#                         # to the first label of the last start)
#   scripts/swtpm.sh unlock DIR                  # clears the TPM's dictionary-attack lockout
#                         # (3 wrong PINs on any token lock every token for ~1000 s)
#   scripts/swtpm.sh stop DIR                    # TPM2_Shutdown, then kills what start
#                         # started (TERM, then KILL after 10 s); 0 if already gone
#
# start prints: DBUS_SESSION_BUS_ADDRESS, TPM2TOOLS_TCTI, TPM2_PKCS11_TCTI,
# TPM2_PKCS11_STORE, PASSPORT_PKCS11_MODULE, PASSPORT_PKCS11_PIN, PASSPORT_TPM_DIR,
# PASSPORT_TOKEN_URI (the first label). The tabrmd TCTI finds tpm2-abrmd on the bus named
# by DBUS_SESSION_BUS_ADDRESS, so every client needs all of them. Daemon output goes to
# DIR/*.log; the pids to DIR/pids (swtpm first).
# tpm2-pkcs11 cannot generate secret keys (C_GenerateKey: CKR_FUNCTION_NOT_SUPPORTED),
# hence adopt. Needs Debian's swtpm tpm2-tools tpm2-abrmd libtpm2-pkcs11-1
# libtpm2-pkcs11-tools libtss2-tcti-tabrmd0 libtss2-tcti-swtpm0 dbus-daemon.
set -euo pipefail

SO_PIN=87654321
USER_PIN=123456
TIMEOUT="${SWTPM_SH_TIMEOUT:-30}" # seconds allowed for each daemon to become ready
prog="swtpm.sh"

die() { echo "$prog: $*" >&2; exit 1; }
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

module=""
for m in /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
         /usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
         /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1 /usr/local/lib/libtpm2_pkcs11.so; do
  [ -e "$m" ] && { module="$m"; break; }
done

# The environment every TPM client of DIR needs (also used by this script itself).
setenv() {
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$dir/bus"
  export TPM2TOOLS_TCTI="tabrmd:bus_type=session"
  export TPM2_PKCS11_TCTI="tabrmd:bus_type=session"
  export TPM2_PKCS11_STORE="$dir/store"
  # The module writes WARNING/ERROR lines to stderr (e.g. its extra empty slot).
  export TPM2_PKCS11_LOG_LEVEL=0
}

print_env() { # $1: the token label for PASSPORT_TOKEN_URI
  echo "export PASSPORT_TPM_DIR='$dir'"
  echo "export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
  echo "export TPM2TOOLS_TCTI='$TPM2TOOLS_TCTI'"
  echo "export TPM2_PKCS11_TCTI='$TPM2_PKCS11_TCTI'"
  echo "export TPM2_PKCS11_STORE='$TPM2_PKCS11_STORE'"
  echo "export TPM2_PKCS11_LOG_LEVEL=0"
  echo "export PASSPORT_PKCS11_MODULE='$module'"
  echo "export PASSPORT_PKCS11_PIN='$USER_PIN'"
  echo "export PASSPORT_TOKEN_URI='pkcs11:token=$1'"
}

# running PID: PID exists and has not exited (an exited process counts as gone even while
# it waits, a zombie, to be reaped). live PID: running and one of ours by name, so that a
# stale DIR/pids never kills a reused pid. start's own pids are trusted (alive=running): just
# after the fork a daemon's name is still the shell's.
running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}
live() {
  local comm
  comm="$(cat "/proc/$1/comm" 2>/dev/null)" || return 1
  case "$comm" in swtpm|dbus-daemon|tpm2-abrmd) running "$1" ;; *) return 1 ;; esac
}
alive=live

# term_wait PID…: TERM, then up to 10 s for them to exit, then KILL; reaps our children.
term_wait() {
  local p i left
  for p in "$@"; do "$alive" "$p" && kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "$@"; do "$alive" "$p" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do "$alive" "$p" && kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# Stops everything in DIR/pids. swtpm (the first line) goes last, after an orderly
# TPM2_Shutdown: a TPM that restarts without one counts a dictionary-attack failure, and
# swtpm's default is a lockout after 3 (then every PIN gets CKR_PIN_LOCKED).
stop_all() {
  [ -f "$dir/pids" ] || return 0
  local pids=() p swtpm_pid=""
  while read -r p; do [[ "$p" =~ ^[0-9]+$ ]] && pids+=("$p"); done <"$dir/pids"
  if [ ${#pids[@]} -gt 0 ]; then # the first line is swtpm
    swtpm_pid="${pids[0]}"
    pids=("${pids[@]:1}")
  fi
  local rest=() i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do rest+=("${pids[i]}"); done
  [ ${#rest[@]} -eq 0 ] || term_wait "${rest[@]}" # tpm2-abrmd, then dbus-daemon
  if [ -n "$swtpm_pid" ]; then
    if [ -S "$dir/swtpm.sock" ] && "$alive" "$swtpm_pid"; then
      timeout 10 tpm2_shutdown -T "swtpm:path=$dir/swtpm.sock" >>"$dir/swtpm.log" 2>&1 || true
    fi
    term_wait "$swtpm_pid"
  fi
  rm -f "$dir/pids"
}

# wait_for WHAT PID LOG CMD…: polls CMD until it succeeds, TIMEOUT s at most; fails early
# when PID has exited.
wait_for() {
  local what="$1" pid="$2" log="$3"; shift 3
  local deadline=$(( ${EPOCHREALTIME/./} + TIMEOUT * 1000000 ))
  until "$@" >/dev/null 2>&1; do
    running "$pid" || fail "$what: process $pid exited" "$log"
    [ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "$what: not ready after ${TIMEOUT}s" "$log"
    sleep 0.1
  done
}

fail() { # $1 message naming the step, $2 the log to look at
  trap - EXIT INT TERM HUP PIPE
  alive=running
  stop_all
  die "start failed: $1 (see $2)"
}

run_logged() { # STEP CMD…: runs CMD with output appended to DIR/ptool.log
  local step="$1"; shift
  echo "+ $*" >>"$dir/ptool.log"
  "$@" >>"$dir/ptool.log" 2>&1 || fail "$step" "$dir/ptool.log"
}

cmd_start() {
  [ $# -ge 2 ] || usage
  dir="$1"; shift
  local labels=("$@") label
  for label in "${labels[@]}"; do
    [[ "$label" =~ ^[A-Za-z0-9._-]{1,32}$ ]] || die "bad token label '$label' (1-32 of A-Z a-z 0-9 . _ -)"
  done
  [ "$(printf '%s\n' "${labels[@]}" | sort | uniq -d)" = "" ] || die "a token label is given twice"
  for c in swtpm tpm2-abrmd dbus-daemon dbus-send tpm2_getrandom tpm2_shutdown tpm2_ptool timeout; do
    command -v "$c" >/dev/null || die "$c not found; install Debian's swtpm tpm2-tools tpm2-abrmd libtpm2-pkcs11-tools dbus-daemon"
  done
  [ -n "$module" ] || die "libtpm2_pkcs11.so not found; install Debian's libtpm2-pkcs11-1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  # sun_path holds 107 bytes; the longest socket is swtpm.sock.ctrl.
  [ ${#dir} -le 90 ] || die "DIR path too long for unix sockets (${#dir} > 90 bytes): $dir"
  [[ "$dir" != *[\'\"\ ]* ]] || die "DIR path must not contain quotes or spaces: $dir"
  if [ -f "$dir/pids" ]; then
    local p
    while read -r p; do
      live "$p" && die "$dir is in use (pid $p from $dir/pids); run: $0 stop $dir"
    done <"$dir/pids"
    rm -f "$dir/pids"
  fi
  local fresh=1
  [ -e "$dir/store/tpm2_pkcs11.sqlite3" ] && fresh=0
  if [ "$fresh" = 1 ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is neither empty nor a directory from an earlier start"
  fi
  mkdir -p "$dir/state" "$dir/store"
  rm -f "$dir/swtpm.sock" "$dir/swtpm.sock.ctrl" "$dir/bus"
  : >"$dir/pids"
  setenv
  trap 'fail "interrupted or unexpected error" "$dir/*.log"' EXIT
  trap 'exit 130' INT TERM HUP PIPE

  # 1. swtpm. The swtpm TCTI expects the control socket at <path>.ctrl.
  swtpm socket --tpm2 \
    --tpmstate dir="$dir/state" \
    --server type=unixio,path="$dir/swtpm.sock" \
    --ctrl type=unixio,path="$dir/swtpm.sock.ctrl" \
    --flags not-need-init,startup-clear \
    --log file="$dir/swtpm.log" \
    </dev/null >>"$dir/swtpm.log" 2>&1 &
  local swtpm_pid=$!
  echo "$swtpm_pid" >>"$dir/pids"
  wait_for "swtpm socket $dir/swtpm.sock" "$swtpm_pid" "$dir/swtpm.log" \
    test -S "$dir/swtpm.sock" -a -S "$dir/swtpm.sock.ctrl"
  wait_for "swtpm answering tpm2_getrandom" "$swtpm_pid" "$dir/swtpm.log" \
    tpm2_getrandom -T "swtpm:path=$dir/swtpm.sock" 8

  # 2. A private session bus: no service activation, anyone on it may own any name.
  cat >"$dir/dbus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
  dbus-daemon --nofork --nosyslog --config-file="$dir/dbus.conf" \
    </dev/null >>"$dir/dbus.log" 2>&1 &
  local dbus_pid=$!
  echo "$dbus_pid" >>"$dir/pids"
  wait_for "dbus-daemon answering on $dir/bus" "$dbus_pid" "$dir/dbus.log" \
    dbus-send --bus="$DBUS_SESSION_BUS_ADDRESS" --print-reply --dest=org.freedesktop.DBus \
      /org/freedesktop/DBus org.freedesktop.DBus.GetId

  # 3. The resource manager, on that bus.
  tpm2-abrmd --session --allow-root --tcti="swtpm:path=$dir/swtpm.sock" \
    </dev/null >>"$dir/abrmd.log" 2>&1 &
  local abrmd_pid=$!
  echo "$abrmd_pid" >>"$dir/pids"
  wait_for "tpm2-abrmd answering tpm2_getrandom over $dir/bus" "$abrmd_pid" "$dir/abrmd.log" \
    tpm2_getrandom 8

  # 4. The tpm2-pkcs11 store: a primary key once, then one token per new label.
  local pid=""
  if [ "$fresh" = 1 ]; then
    run_logged "tpm2_ptool init" tpm2_ptool init --path="$dir/store"
  fi
  pid="$(tpm2_ptool listprimaries --path="$dir/store" 2>>"$dir/ptool.log" |
         sed -n 's/^[- ]*id: *\([0-9][0-9]*\) *$/\1/p' | head -n1)" || true
  [ -n "$pid" ] || fail "tpm2_ptool listprimaries found no primary" "$dir/ptool.log"
  local have
  have="$(tpm2_ptool listtokens --pid="$pid" --path="$dir/store" 2>>"$dir/ptool.log")" ||
    fail "tpm2_ptool listtokens" "$dir/ptool.log"
  for label in "${labels[@]}"; do
    if grep -Eqx " *label: *'?$label'?" <<<"$have"; then continue; fi
    run_logged "tpm2_ptool addtoken --label=$label" tpm2_ptool addtoken --pid="$pid" \
      --label="$label" --sopin="$SO_PIN" --userpin="$USER_PIN" --path="$dir/store"
  done

  trap - EXIT INT TERM HUP PIPE
  echo "${labels[0]}" >"$dir/label"
  print_env "${labels[0]}"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  dir="$1"
  [ -d "$dir" ] || return 0
  stop_all
}

cmd_env() {
  [ $# -ge 1 ] && [ $# -le 2 ] || usage
  dir="$(cd "$1" && pwd)" || die "no directory $1"
  setenv
  local label="${2:-}"
  [ -n "$label" ] || label="$(cat "$dir/label" 2>/dev/null)" || die "no $dir/label; name the token"
  print_env "$label"
}

cmd_unlock() {
  [ $# -eq 1 ] || usage
  dir="$(cd "$1" && pwd)" || die "no directory $1"
  setenv
  tpm2_dictionarylockout --clear-lockout >>"$dir/ptool.log" 2>&1 ||
    die "unlock failed: tpm2_dictionarylockout --clear-lockout (see $dir/ptool.log)"
}

cmd_adopt() {
  [ $# -ge 4 ] && [ $# -le 5 ] || usage
  dir="$(cd "$1" && pwd)" || die "no directory $1"
  local label="$2" keylabel="$3" alg="$4" id="${5:-}"
  setenv
  local args out step tmp=""
  case "$alg" in
    aes128-encrypt|aes256-encrypt)
      # tpm2_ptool addkey's AES keys may also decrypt, and tpm2-pkcs11 does not enforce
      # CKA_DECRYPT. A TPM symmetric key with TPMA_OBJECT sign but not decrypt can only
      # encrypt (TPM2_EncryptDecrypt checks it); create one and link it to the token.
      local esys handle auth
      esys="$(tpm2_ptool listprimaries --path="$dir/store" 2>>"$dir/ptool.log" |
              sed -n 's/^ *esys-tr: *\([0-9a-fA-F]\{8\}\).*/\1/p' | head -n1)"
      [[ "$esys" =~ ^81 ]] || die "adopt failed: no persistent primary in $dir/store (see $dir/ptool.log)"
      handle="0x$esys"
      auth="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
      tmp="$(mktemp -d "$dir/adopt.XXXXXX")"
      step="tpm2_create -C $handle -G ${alg%-encrypt} -a sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth"
      echo "+ $step" >>"$dir/ptool.log"
      tpm2_create -C "$handle" -G "${alg%-encrypt}" \
        -a 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' -p "$auth" \
        -u "$tmp/key.pub" -r "$tmp/key.priv" >>"$dir/ptool.log" 2>&1 || {
        rm -rf "$tmp"; die "adopt failed: $step (see $dir/ptool.log)"; }
      args=(link --label="$label" --key-label="$keylabel" --userpin="$USER_PIN"
            --auth="$auth" --path="$dir/store")
      [ -z "$id" ] || args+=(--id="$id")
      args+=("$tmp/key.pub" "$tmp/key.priv")
      step="tpm2_ptool link --label=$label --key-label=$keylabel"
      ;;
    *)
      args=(addkey --label="$label" --key-label="$keylabel" --userpin="$USER_PIN"
            --algorithm="$alg" --path="$dir/store")
      [ -z "$id" ] || args+=(--id="$id")
      step="tpm2_ptool addkey --label=$label --key-label=$keylabel --algorithm=$alg"
      ;;
  esac
  local rc=0
  out="$(tpm2_ptool "${args[@]}" 2>&1)" || rc=$?
  [ -z "$tmp" ] || rm -rf "$tmp"
  printf '%s\n' "+ tpm2_ptool ${args[*]//--auth=*/--auth=…}" "$out" >>"$dir/ptool.log"
  [ "$rc" = 0 ] || die "adopt failed: $step: $(tail -n1 <<<"$out") (see $dir/ptool.log)"
  # tpm2_ptool prints YAML: "action: add", "private:", "  CKA_ID: '…'" (the hex of the
  # CKA_ID bytes, which are the characters of --id, or of 16 random hex digits).
  sed -n "s/^ *CKA_ID: *'\{0,1\}\([0-9a-fA-F]*\)'\{0,1\}$/\1/p" <<<"$out" | head -n1
}

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  env) cmd_env "$@" ;;
  adopt) cmd_adopt "$@" ;;
  unlock) cmd_unlock "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
