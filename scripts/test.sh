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
# Clippy is the compiler of the crate's own targets in the test build itself
# (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` sets it, and its CLIPPY_ARGS), so the
# lints of `cargo clippy --all-targets -- -D warnings` run during the one real build.
# A separate `cargo clippy` first would check every dependency once more, for nothing
# the build does not redo (measured on 2 cores: 298 s for this build with clean
# caches, against 271 s of clippy and then ~270 s of test build before).
# Dependencies are unaffected: the wrapper applies to workspace members only, so a
# plain `cargo test` afterwards rebuilds passport alone.
if command -v rustup >/dev/null 2>&1; then
  RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)"
else
  RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver || true)"
fi
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || {
  echo "clippy is not installed (rustup component add clippy)" >&2
  exit 1
}
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# A clean build gains nothing from incremental compilation's bookkeeping (~1/3 of
# passport's own compile time); local runs keep it for quick rebuilds.
[ -z "${CI:-}" ] || export CARGO_INCREMENTAL=0

# CLIPPY_ARGS is how cargo-clippy talks to clippy-driver, not a documented interface:
# prove on a one-line crate that a clippy warning still fails the build, so that a
# toolchain which changed it cannot make the lint gate silently pass.
lint_gate_works() {
  local d out
  d="$(mktemp -d)"
  mkdir "$d/src"
  printf '[package]\nname = "lint-canary"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' >"$d/Cargo.toml"
  echo 'pub fn empty(v: &[u8]) -> bool { v.len() == 0 }' >"$d/src/lib.rs"
  out="$(cargo build --quiet --manifest-path "$d/Cargo.toml" --target-dir "$d/target" 2>&1)" && out=""
  rm -rf "$d"
  grep -q 'len.zero' <<<"$out"
}
stage "cargo clippy --all-targets -- -D warnings, as the test build"
lint_gate_works || {
  echo "clippy-driver no longer fails a build on a clippy warning this way; fix scripts/test.sh" >&2
  exit 1
}
cargo test --all-targets --no-run --quiet

stage "cargo test"
log="$(mktemp)" side="$(mktemp)" side_pid=""
# On an early exit the side checks' cargo goes too, not only their subshell.
trap '[ -z "$side_pid" ] || { pkill -P "$side_pid"; kill "$side_pid"; } 2>/dev/null; rm -f "$log" "$side"' EXIT
# While the tests run (they keep ~1.3 of 2 cores busy, waiting on servers and relays),
# the checks that need a check build of their own run beside them, into $side:
# - the library without its CLI (no clap, prompts, progress bars or QR codes);
# - the fuzz targets, type-checked against the library (not built or run) so they
#   cannot rot; `scripts/fuzz.sh build|run` builds and fuzzes them locally. The check
#   shares the main target directory and the main crate's dev profile (these settings
#   must stay Cargo.toml's [profile.dev]; .cargo/config.toml applies to both), so it
#   reuses the dependencies checked just before and the build-time crates of the
#   test build (clean-clone rehearsals on 2 cores: 115–127 s and 107–111 s, beside
#   the tests, which they outlast by a little).
side_checks() {
  local rc=0 t=$SECONDS
  echo "== cargo clippy --lib --no-default-features -- -D warnings"
  cargo clippy --lib --no-default-features --quiet -- -D warnings || rc=1
  echo "   (cargo clippy --lib --no-default-features: $((SECONDS - t)) s)"
  if [ -d fuzz ] && [ "${PASSPORT_SKIP_FUZZ_BUILD:-0}" != 1 ]; then
    t=$SECONDS
    echo "== fuzz targets check"
    # A check links nothing, so libfuzzer-sys need not compile libFuzzer's C++ (~40
    # CPU-seconds): its documented CUSTOM_LIBFUZZER_PATH names an archive instead.
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
      CUSTOM_LIBFUZZER_PATH=/nonexistent/libfuzzer.a CUSTOM_LIBFUZZER_STD_CXX=none \
      cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --target-dir target \
      --config profile.dev.opt-level=0 --config 'profile.dev.debug="line-tables-only"' \
      --config 'profile.dev.package."*".opt-level=2' --config 'profile.dev.package."*".debug=false' \
      --config 'profile.dev.build-override.opt-level=0' || rc=1
    echo "   (fuzz targets check: $((SECONDS - t)) s)"
  fi
  return $rc
}
side_checks >"$side" 2>&1 &
side_pid=$!
# --no-fail-fast: one failing suite must not hide the others. The exit status is the
# test run's (pipefail) or the side checks', whichever failed. Examples are built
# above (and linted) but have no tests to run.
status=0
cargo test --lib --bins --tests --benches --no-fail-fast 2>&1 | tee "$log" || status=$?
wait "$side_pid" || status=1
side_pid=""
cat "$side"

stage ""
echo "   (total: $SECONDS s)"
# One closing line with the totals, after the fuzz build's output.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
