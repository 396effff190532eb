#!/usr/bin/env bash
# Fuzzing passport's parsers of outside data (cargo-fuzz / libFuzzer).
#
#   scripts/fuzz.sh build                 install cargo-fuzz if missing, build all targets
#   scripts/fuzz.sh seeds                 (re)write seed corpora into fuzz/corpus/<target>/
#   scripts/fuzz.sh run [SECONDS] [T...]  build, seed, fuzz each target (or T...) for
#                                         SECONDS (default 30); fails if any target crashes
#   scripts/fuzz.sh smoke                 build, seed, run every target once over its corpus
#   scripts/fuzz.sh list                  the fuzz targets
#
# Works on a stable toolchain: the default build (`--sanitizer none`) only passes stable
# rustc flags (-Cpasses=sancov-module, -Cllvm-args=...). RUSTC_BOOTSTRAP=1 is set so that
# FUZZ_SANITIZER=address (which needs -Zsanitizer) also builds on stable.
# passport is `#![forbid(unsafe_code)]`, so the property fuzzed is "no panic"; ASan adds
# little (the C code in secp256k1-sys is not instrumented either way) and halves speed.
#
# Environment:
#   FUZZ_SANITIZER   none (default) | address | leak ...
#   FUZZ_PROFILE     dev (default: fast to build, deps at opt-level 2) | release
#   FUZZ_ARGS        extra libFuzzer arguments for `run`, e.g. "-max_len=8192"
#
# Crashes land in fuzz/artifacts/<target>/; reproduce with
#   scripts/fuzz.sh build && (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none TARGET ARTIFACT)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
TARGETS=(envelope_parse roster_json group_json event_template payloads inspect nip46_nip98)

export RUSTC_BOOTSTRAP=1
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
SANITIZER="${FUZZ_SANITIZER:-none}"
PROFILE="${FUZZ_PROFILE:-dev}"
case "$PROFILE" in
  dev) BUILD_FLAGS=(--dev -s "$SANITIZER"); PROFILE_DIR=debug ;;
  release) BUILD_FLAGS=(-O -a -s "$SANITIZER"); PROFILE_DIR=release ;;
  *) echo "FUZZ_PROFILE must be dev or release" >&2; exit 2 ;;
esac
HOST="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ/target/$HOST/$PROFILE_DIR"

log() { printf '==> %s\n' "$*" >&2; }

ensure_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
  fi
}

cmd_build() {
  ensure_cargo_fuzz
  log "building fuzz targets ($(cargo fuzz --version | head -1); ${BUILD_FLAGS[*]})"
  local start=$SECONDS
  (cd "$FUZZ" && cargo fuzz build "${BUILD_FLAGS[@]}")
  log "build finished in $((SECONDS - start))s"
}

cmd_seeds() {
  [[ -x "$BIN_DIR/gen_seeds" ]] || cmd_build
  PASSPORT_FUZZ_SEEDS="$FUZZ/corpus" "$BIN_DIR/gen_seeds" 2>&1 | grep -v '^WARNING: Failed to find function' >&2
}

known_target() {
  local t
  for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  return 1
}

cmd_run() {
  local secs="${1:-30}"
  [[ $# -gt 0 ]] && shift
  [[ "$secs" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a number, got $secs" >&2; exit 2; }
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=("${TARGETS[@]}")
  local t
  for t in "${targets[@]}"; do known_target "$t" || { echo "unknown target $t (see: $0 list)" >&2; exit 2; }; done

  cmd_build
  cmd_seeds
  local logs="$FUZZ/artifacts/logs"
  mkdir -p "$logs"
  local failed=() summary=()
  for t in "${targets[@]}"; do
    mkdir -p "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
    log "fuzzing $t for ${secs}s"
    local rc=0
    # shellcheck disable=SC2086
    (cd "$FUZZ" && cargo fuzz run "${BUILD_FLAGS[@]}" "$t" -- \
        -max_total_time="$secs" -print_final_stats=1 ${FUZZ_ARGS:-}) >"$logs/$t.log" 2>&1 || rc=$?
    # The inspect target's scratch file (libFuzzer exits without running destructors).
    rm -f /dev/shm/passport-fuzz-inspect-*.json "${TMPDIR:-/tmp}"/passport-fuzz-inspect-*.json
    local runs eps cov corpus artifact
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1 || true)"
    eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1 || true)"
    cov="$(grep -oE 'cov: [0-9]+' "$logs/$t.log" | tail -1 | cut -d' ' -f2 || true)"
    corpus="$(find "$FUZZ/corpus/$t" -type f | wc -l)"
    if [[ $rc -ne 0 ]]; then
      failed+=("$t")
      artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$t.log" | tail -1 || true)"
      summary+=("$(printf '%-16s CRASH (exit %s) input %s, log %s' "$t" "$rc" "${artifact:-?}" "$logs/$t.log")")
      {
        echo "---- $t crashed; panic:"
        grep -E -A2 "panicked at|^==[0-9]+== ERROR" "$logs/$t.log" || tail -30 "$logs/$t.log"
        if [[ -n "$artifact" && -f "$artifact" ]]; then
          echo "---- input (hex): $(od -An -v -tx1 "$artifact" | tr -d ' \n' | cut -c1-2000)"
        fi
      } >&2
    else
      summary+=("$(printf '%-16s ok  runs=%-9s exec/s=%-7s cov=%-6s corpus=%s' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "$corpus")")
    fi
  done
  echo
  printf '%s\n' "${summary[@]}"
  if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashing targets: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    return 1
  fi
}

cmd_smoke() {
  cmd_build
  cmd_seeds
  local t
  for t in "${TARGETS[@]}"; do
    log "smoke: $t over its corpus"
    "$BIN_DIR/$t" -runs=0 "$FUZZ/corpus/$t" 2>&1 | grep -E "INITED|DONE|panicked|ERROR" >&2
  done
}

case "${1:-}" in
  build) cmd_build ;;
  seeds) cmd_seeds ;;
  run) shift; cmd_run "$@" ;;
  smoke) cmd_smoke ;;
  list) printf '%s\n' "${TARGETS[@]}" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
