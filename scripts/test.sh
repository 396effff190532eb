#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (Debian packages), so it works on
# a fresh Debian machine with only the Rust toolchain, and in CI (no terminal).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: SoftHSM2 (PKCS#11 tokens), p11-kit server and its
# client module (remote tokens), opensc's pkcs11-tool (making deliberately unsafe keys),
# ssh-keygen (ssh-ed25519 backup recipients), sshd (a remote token over
# `|ssh … p11-kit remote`), a software TPM 2.0 token (swtpm, tpm2-abrmd on a private
# D-Bus, tpm2-pkcs11 and tpm2_ptool; scripts/swtpm.sh), tmux (a real terminal emulator
# for the signing-review test, tests/cli/review.rs), chromium (the headless browser that
# playwright-core drives through the bunker's approval console, tests/net/bunker/console.rs).
# Each stage prints its name, and on ending how long it took: CI time is a budget
# (issue 15), and these lines show where it goes.
stage_name="" stage_start=$SECONDS
stage() {
  [ -z "$stage_name" ] || echo "   ($stage_name: $((SECONDS - stage_start)) s)"
  stage_name="$1" stage_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}
stage "system packages"

NEEDED_PKGS=(softhsm2 p11-kit p11-kit-modules opensc openssh-client openssh-server tmux
  swtpm swtpm-tools tpm2-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd
  libtss2-tcti-tabrmd0 libtss2-tcti-swtpm0 dbus-daemon chromium)
missing=()
for p in "${NEEDED_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# nostr-tools, the independent NIP-46 client of tests/net/bunker_connect.rs (run with the
# machine's node), and playwright-core (no browser of its own: it drives Debian's
# chromium), pinned by tests/js/package-lock.json; CI reaches the npm registry. Again
# when the lock is newer than what was installed.
if [ ! -d tests/js/node_modules ] ||
  [ tests/js/package-lock.json -nt tests/js/node_modules/.package-lock.json ]; then
  stage "npm ci --prefix tests/js"
  npm ci --prefix tests/js --no-audit --no-fund
fi

stage "cargo fmt --check"
cargo fmt --check
stage "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
# The library without its CLI (no clap, prompts, progress bars or QR codes) must build.
stage "cargo clippy --lib --no-default-features -- -D warnings"
cargo clippy --lib --no-default-features --quiet -- -D warnings
stage "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --no-fail-fast: one failing suite must not hide the others. The exit status is the
# test run's (pipefail), taken after the fuzz build so that still reports.
status=0
# Examples are only built, never run: clippy --all-targets above already type-checks
# them, so linking four more debug binaries here would add time and no check.
cargo test --lib --bins --tests --benches --no-fail-fast 2>&1 | tee "$log" || status=$?
# Fuzz targets are type-checked against the library (not built or run) so they cannot
# rot; `scripts/fuzz.sh build|run` builds and fuzzes them locally. The check shares the
# main target directory with the main crate's dev profile, so the dependencies clippy
# already checked are reused (measured on 2 cores: 86 s, against 187 s in a cold
# directory of its own and ~345 s for the full `cargo fuzz build` with cargo-fuzz).
# These settings must stay those of Cargo.toml's [profile.dev]: when that profile
# changed and they did not, nothing was reused and the check took 349 s.
if [ -d fuzz ] && [ "${PASSPORT_SKIP_FUZZ_BUILD:-0}" != 1 ]; then
  stage "fuzz targets check"
  cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --target-dir target \
    --config profile.dev.opt-level=0 --config 'profile.dev.debug="line-tables-only"' \
    --config 'profile.dev.package."*".opt-level=2' --config 'profile.dev.package."*".debug=false' \
    --config 'profile.dev.build-override.opt-level=0' || status=$?
fi

stage ""
echo "   (total: $SECONDS s)"
# One closing line with the totals, after the fuzz build's output.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
