#!/usr/bin/env bash
# `passport serve` under load (examples/serve_load.rs): M members posting and
# long-polling for S seconds, and optionally the durability check: serve is killed with
# SIGKILL halfway through, started again on the same database, and every package the
# clients saw acknowledged (201) must be there. Prints one JSON object on stdout (the
# load generator's, plus serve's peak RSS and the check's counts); progress on stderr.
#
#   scripts/bench-serve.sh MODE [kill]     # MODE: commit (signing commitments) or dkg
#   BENCH_LOAD_MEMBERS=50 BENCH_LOAD_SECS=20 scripts/bench-serve.sh dkg kill
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release/passport"
EX="$CARGO_TARGET_DIR/release/examples"
MODE="${1:?usage: bench-serve.sh commit|dkg [kill]}"
KILL="${2:-}"
MEMBERS="${BENCH_LOAD_MEMBERS:-50}"
SECS="${BENCH_LOAD_SECS:-20}"
unset PASSPORT_HOME PASSPORT_PASSPHRASE PASSPORT_AGE_IDENTITY

[[ -x "$BIN" && -x "$EX/serve_load" ]] ||
    cargo build --release --bin passport --example serve_load >&2

W="$(mktemp -d "${TMPDIR:-/tmp}/passport-serve-bench.XXXXXX")"
SERVE="" LOAD=""
cleanup() {
    local p
    for p in $SERVE $LOAD; do kill -KILL "$p" 2>/dev/null || true; done
    for p in $SERVE $LOAD; do wait "$p" 2>/dev/null || true; done
    if [[ -n "${BENCH_SERVE_KEEP:-}" ]]; then echo "bench-serve: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

# Limits far above the load, so the run measures the server, not the rate limiter.
printf '%s\n' 'rate_per_pubkey = 100000' 'burst_per_pubkey = 100000' \
    'rate_per_ip = 1000000' 'burst_per_ip = 1000000' \
    'max_connections = 100000' 'max_connections_per_ip = 100000' \
    'new_ceremonies_per_ip_hour = 100000' >"$W/serve.toml"

# Starts serve on the one home; sets SERVE and URL (waits, bounded, for its ready line).
start_serve() {
    : >"$W/serve.out"
    "$BIN" --home "$W/home" serve --listen 127.0.0.1:0 --config "$W/serve.toml" \
        >"$W/serve.out" 2>>"$W/serve.err" &
    SERVE=$!
    local i
    for ((i = 0; i < 300; i++)); do
        URL="$(grep -m 1 -oE 'https?://[^ ",]+' "$W/serve.out" 2>/dev/null || true)"
        [[ -n "$URL" ]] && return 0
        kill -0 "$SERVE" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-serve: serve did not print its address in 30 s: $(tail -n 5 "$W/serve.err")" >&2
    return 1
}

start_serve
echo "  serve load: $MEMBERS members, $SECS s, $MODE packages${KILL:+, kill -9 halfway}" >&2
"$EX/serve_load" "$URL" "$MEMBERS" "$SECS" "$MODE" "$W/acked" >"$W/result.json" 2>"$W/load.err" &
LOAD=$!
peak=0 killed_at=$((SECONDS + SECS / 2)) killed=""
while kill -0 "$LOAD" 2>/dev/null; do
    if [[ -n "$SERVE" ]]; then
        rss="$(awk '/VmRSS/ {print $2}' "/proc/$SERVE/status" 2>/dev/null || echo 0)"
        ((rss > peak)) && peak=$rss
    fi
    if [[ -n "$KILL" && -z "$killed" && $SECONDS -ge $killed_at ]]; then
        kill -KILL "$SERVE"
        wait "$SERVE" 2>/dev/null || true
        SERVE="" killed=1
        echo "  serve killed (SIGKILL) mid-run; the clients carry on against nothing" >&2
    fi
    sleep 0.2
done
wait "$LOAD" || { tail -n 20 "$W/load.err" >&2; exit 1; }
LOAD=""
# serve's CPU seconds (user + system) over the run: CPU per post is steadier than posts
# per second on a shared machine. Not known when serve was killed midway.
serve_cpu=null
if [[ -n "$SERVE" ]]; then
    serve_cpu="$(awk '{ sub(/.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$SERVE/stat" 2>/dev/null || echo null)"
fi

missing=null acked=null
if [[ -n "$killed" ]]; then
    start_serve
    # Every acknowledged package must be in the restarted serve's database.
    read -r acked missing < <(python3 - "$W/home/serve/serve.sqlite" "$W/acked" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
have = {r[0] for r in db.execute("SELECT event_id FROM packages")}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
print(len(acked), sum(1 for a in acked if a not in have))
PY
)
    echo "  after the restart: $acked acknowledged packages, $missing missing" >&2
fi
python3 - "$W/result.json" "$peak" "$acked" "$missing" "$serve_cpu" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["serve_rss_peak_kib"] = int(sys.argv[2])
if sys.argv[5] != "null" and r["accepted"]:
    r["serve_cpu_s"] = float(sys.argv[5])
    r["serve_cpu_us_per_post"] = round(float(sys.argv[5]) * 1e6 / r["accepted"], 1)
r["killed_midway"] = sys.argv[4] != "null"
if r["killed_midway"]:
    r["acked"], r["missing_after_restart"] = int(sys.argv[3]), int(sys.argv[4])
print(json.dumps(r))
PY
[[ "$missing" == null || "$missing" == 0 ]] || { echo "bench-serve: acknowledged packages lost" >&2; exit 1; }
