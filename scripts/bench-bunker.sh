#!/usr/bin/env bash
# The NIP-46 bunker under load, through one local relay, in one run (issue 14's figures):
# sign_event and nip44_encrypt round trips (p50, p99, max) and throughput for
#   single_rust     nostr-connect's single-key signer (baseline)
#   single_js       a nostr-tools single-key signer, tests/js/bench-signer.mjs (baseline;
#                   skipped without node and tests/js/node_modules)
#   local           a bunker holding two seats of a dealt 2-of-3 in its own home
#   cosigners_http  a dealer's bunker (no share) with three `passport cosign` agents
#                   (2-of-3) that reach serve over HTTP
#   cosigners_hung  the same, with one of the three agents stopped (SIGSTOP) once ready
#   cosigners_relay three agents that reach the bunker through the relay (`cosign --via
#                   ws://…`), when this passport can; otherwise reported as unavailable
# plus the bunker's own time per sign_event (its /metrics: mean and median) for local and
# co-signers over HTTP, at each client count, and serve's RSS with many
# authorized clients.
#
# Prints one JSON object per measurement on stdout ({"case","method","result"}; called by
# scripts/bench.sh, which prints the table with the ratios); progress on stderr.
#
#   BENCH_BUNKER_REQUESTS=200        sign_event requests per case
#   BENCH_BUNKER_NIP44_REQUESTS=100  nip44_encrypt requests per case (0: none)
#   BENCH_BUNKER_CONCURRENCY="1 4"   clients at once (each with its own key), per run
#   BENCH_BUNKER_CLIENTS=1000        clients for the RSS figure (0: none)
#   BENCH_BUNKER_COSIGNER_TIMEOUT=   serve's --cosigner-timeout (empty: serve's default)
#   BENCH_BUNKER_DEFAULT_LIMITS=1    co-signer serves keep serve's default rate limits
#   BENCH_BUNKER_KEEP=1              keep the work directory (logs, homes) for a look
#   BENCH_BUNKER_SERVE_ARGS="-v"     extra arguments for every serve
#   BENCH_BUNKER_CASES="local"       run only these of: single local cosigners (default all)
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release/passport"
EX="$CARGO_TARGET_DIR/release/examples"
REQUESTS="${BENCH_BUNKER_REQUESTS:-200}"
NIP44="${BENCH_BUNKER_NIP44_REQUESTS:-100}"
CONC="${BENCH_BUNKER_CONCURRENCY:-1 4}"
CLIENTS="${BENCH_BUNKER_CLIENTS:-1000}"
CASES=" ${BENCH_BUNKER_CASES:-single local cosigners} "
wants() { [[ "$CASES" == *" $1 "* ]]; }
unset PASSPORT_HOME PASSPORT_PASSPHRASE PASSPORT_AGE_IDENTITY PASSPORT_VIA

[[ -x "$BIN" && -x "$EX/bunker_load" && -x "$EX/relay" ]] || \
    cargo build --release --bin passport --example bunker_load --example relay >&2

W="$(mktemp -d "${TMPDIR:-/tmp}/passport-bunker-bench.XXXXXX")"
PIDS=()
# Stops every process this script started, stopped ones included (SIGTERM stays pending
# on a stopped process until SIGCONT), and waits a bounded time before SIGKILL.
stop_pids() {
    local p i
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
    for ((i = 0; i < 100; i++)); do
        local alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.05
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
    ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
    if [[ -n "${BENCH_BUNKER_KEEP:-}" ]]; then echo "bench-bunker: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A failed setup step says what passport said.
trap 'echo "bench-bunker: failed at line $LINENO; last passport errors:" >&2; tail -n 5 "$W/log" >&2 2>/dev/null' ERR

# Waits (bounded) for a line matching REGEX in FILE, written by process PID; prints it.
# Fails early if PID exits first.
wait_line() {
    local f="$1" re="$2" pid="$3" secs="${4:-30}" i l
    for ((i = 0; i < secs * 20; i++)); do
        if [[ -s "$f" ]] && l="$(grep -m 1 -E -- "$re" "$f")"; then
            echo "$l"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { sleep 0.1; grep -m 1 -E -- "$re" "$f" && return 0; break; }
        sleep 0.05
    done
    echo "bench-bunker: no line matching '$re' from pid $pid in $f (${secs} s); its stderr:" >&2
    tail -n 5 "${f%.out}.err" >&2 2>/dev/null || true
    return 1
}

"$EX/relay" >"$W/relay.out" 2>"$W/relay.err" &
PIDS+=($!)
RELAY="$(wait_line "$W/relay.out" '^wss?://' $!)"
echo "relay $RELAY" >&2

q() { "$BIN" "$@" 2>>"$W/log"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
npub() { q --home "$W/$1" --json id | field npub; }
init() { local m; for m in "$@"; do [[ -d "$W/$m" ]] || q --home "$W/$m" init --age-identity "$W/$m.key" >/dev/null; done; }

# One JSON line per method and client count for CASE; LOAD... is bunker_load's arguments
# before the count. One client measures how long a request takes; several at once
# measure how many a 2-core machine carries (three agents, serve and the relay share it).
measure() {
    local case="$1"; shift
    local r c
    for c in $CONC; do
        echo "  $case: $REQUESTS sign_event, $c client(s)" >&2
        [[ -z "${OWN_URL:-}" ]] || own_time snap "$OWN_URL"
        r="$("$EX/bunker_load" "$@" "$REQUESTS" "$c" sign_event 2>>"$W/load.err")"
        echo "{\"case\":\"$case\",\"method\":\"sign_event\",\"clients\":$c,\"result\":$r}"
        [[ -z "${OWN_URL:-}" ]] || own_time report "$case" "$c" "$OWN_URL"
        if ((NIP44 > 0)); then
            echo "  $case: $NIP44 nip44_encrypt, $c client(s)" >&2
            r="$("$EX/bunker_load" "$@" "$NIP44" "$c" nip44_encrypt 2>>"$W/load.err")"
            echo "{\"case\":\"$case\",\"method\":\"nip44_encrypt\",\"clients\":$c,\"result\":$r}"
        fi
    done
}

# The bunker's own time per sign_event (receipt → reply ready), from its /metrics
# histogram: `own_time snap URL` saves the sign_event buckets; `own_time report CASE
# CLIENTS URL` prints mean and median (interpolated within the bucket, as Prometheus'
# histogram_quantile does) of the requests since the snapshot.
own_time() {
    python3 - "$W/own.snap" "$@" <<'PY'
import json, sys, urllib.request
snap, what = sys.argv[1], sys.argv[2]
url = sys.argv[-1] + "/metrics"
text = urllib.request.urlopen(url).read().decode()
pre = 'passport_bunker_request_seconds_'
cur = {"sum": 0.0, "count": 0.0, "buckets": {}}
for line in text.splitlines():
    if not line.startswith(pre) or 'method="sign_event"' not in line or 'outcome="ok"' not in line:
        continue
    name, value = line.rsplit(" ", 1)
    if name.startswith(pre + "sum"):
        cur["sum"] = float(value)
    elif name.startswith(pre + "count"):
        cur["count"] = float(value)
    elif name.startswith(pre + "bucket"):
        le = name.split('le="', 1)[1].split('"', 1)[0]
        cur["buckets"][le] = float(value)
if what == "snap":
    json.dump(cur, open(snap, "w"))
    sys.exit(0)
case, clients = sys.argv[3], int(sys.argv[4])
try:
    old = json.load(open(snap))
except (OSError, ValueError):
    old = {"sum": 0.0, "count": 0.0, "buckets": {}}
n = cur["count"] - old["count"]
total = cur["sum"] - old["sum"]
bounds = sorted((float("inf") if le == "+Inf" else float(le), cur["buckets"][le] - old["buckets"].get(le, 0.0))
                for le in cur["buckets"])
p50, lo, below = None, 0.0, 0.0
for hi, cum in bounds:
    if n and cum >= n / 2:
        inside = cum - below
        p50 = hi if hi == float("inf") else lo + (hi - lo) * ((n / 2 - below) / inside if inside else 0)
        break
    lo, below = hi, cum
print(json.dumps({"case": "processing", "of": case, "clients": clients, "result": {
    "sign_event_mean_ms": round(total / n * 1e3, 3) if n else 0,
    "sign_event_p50_ms": round(p50 * 1e3, 3) if p50 is not None else None,
    "count": int(n)}}))
PY
}

# Starts `passport serve` on HOME with ARGS; sets HTTP, BPK, SERVE (its pid).
start_serve() {
    local name="$1"; shift
    # shellcheck disable=SC2086 # extra arguments, split on purpose
    "$BIN" --home "$W/$name" serve ${BENCH_BUNKER_SERVE_ARGS:-} --listen 127.0.0.1:0 --relay "$RELAY" "$@" \
        >"$W/serve-$name.out" 2>"$W/serve-$name.err" &
    SERVE=$!
    PIDS+=("$SERVE")
    HTTP="$(wait_line "$W/serve-$name.out" '^listening on ' "$SERVE" | sed 's/^listening on //')"
    local uri
    uri="$(wait_line "$W/serve-$name.out" '^bunker://' "$SERVE")"
    BPK="${uri#bunker://}"
    BPK="${BPK%%\?*}"
}

# --- baselines: single-key signers, each in its own process like passport's bunker ---
if wants single; then
echo "single-key baselines" >&2
"$EX/bunker_load" single-key-signer "$RELAY" >"$W/single.out" 2>"$W/single.err" &
SINGLE=$!
PIDS+=("$SINGLE")
SINGLE_URI="$(wait_line "$W/single.out" '^bunker://' "$SINGLE")"
measure single_rust uri "$SINGLE_URI"
stop_pids "$SINGLE"

if command -v node >/dev/null && [[ -d tests/js/node_modules/nostr-tools ]]; then
    node --experimental-websocket tests/js/bench-signer.mjs "$RELAY" >"$W/js.out" 2>"$W/js.err" &
    JS=$!
    PIDS+=("$JS")
    JS_URI="$(wait_line "$W/js.out" '^bunker://' "$JS")"
    measure single_js uri "$JS_URI"
    stop_pids "$JS"
else
    echo "  single_js: skipped (needs node and npm ci in tests/js)" >&2
    echo '{"case":"single_js","skipped":"needs node and npm ci in tests/js"}'
fi
fi

if wants local; then

# --- local 2-of-3: the bunker home keeps two seats, `offsite` the third ---
echo "local 2-of-3" >&2
init bunker offsite
B_NPUB="$(npub bunker)"
O_NPUB="$(npub offsite)"
q roster new --threshold 2 --purpose bench --dealer "$B_NPUB" \
    --member "bunker-a=$B_NPUB" --member "bunker-b=$B_NPUB" --member "offsite=$O_NPUB" \
    --allow-shared-seats -o "$W/roster.json" >/dev/null
GROUP="$(q --home "$W/bunker" --json keygen deal --roster "$W/roster.json" --out "$W/dealt" | field group)"
q --home "$W/bunker" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-bunker-a-"*.json >/dev/null
q --home "$W/bunker" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-bunker-b-"*.json >/dev/null
q --home "$W/offsite" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-offsite-"*.json >/dev/null
echo "  group $GROUP" >&2
start_serve bunker
DB="$W/bunker/serve/serve.sqlite"
OWN_URL="$HTTP" measure local passport "$BPK" "$RELAY" "$DB"
if ((CLIENTS > 0)); then
    echo "  serve RSS with $CLIENTS authorized clients, each answered once" >&2
    K="$("$EX/bunker_load" clients "$BPK" "$RELAY" "$DB" "$CLIENTS")"
    RSS="$(awk '/VmRSS/ {print $2}' "/proc/$SERVE/status")"
    HWM="$(awk '/VmHWM/ {print $2}' "/proc/$SERVE/status")"
    echo "{\"case\":\"clients\",\"result\":$K,\"rss_kib\":$RSS,\"hwm_kib\":$HWM}"
fi
stop_pids "$SERVE"
fi

wants cosigners || exit 0
if ! "$BIN" cosign --help >/dev/null 2>&1; then
    echo "co-signers: skipped (this passport has no cosign command)" >&2
    for c in cosigners_http cosigners_hung cosigners_relay; do
        echo "{\"case\":\"$c\",\"skipped\":\"no cosign command in this build\"}"
    done
    exit 0
fi

# --- co-signers: a dealer home (group file, no share) runs the bunker; cs-a, cs-b and
# cs-c each hold one share of a 2-of-3 and answer through `passport cosign` ---
init cs-a cs-b cs-c
COSIGNERS=(cs-a cs-b cs-c)
# Deals a fresh group of the three co-signers from dealer home $1; prints its npub.
deal_cosigners() {
    local dealer="$1" m g
    init "$dealer"
    q roster new --threshold 2 --purpose bench --dealer "$(npub "$dealer")" \
        --member "cs-a=$(npub cs-a)" --member "cs-b=$(npub cs-b)" --member "cs-c=$(npub cs-c)" \
        -o "$W/roster-$dealer.json" >/dev/null
    g="$(q --home "$W/$dealer" --json keygen deal --roster "$W/roster-$dealer.json" \
        --out "$W/dealt-$dealer" | field group)"
    for m in "${COSIGNERS[@]}"; do
        q --home "$W/$m" keygen import --roster "$W/roster-$dealer.json" \
            "$W/dealt-$dealer/dealer-share-$m-"*.json >/dev/null
    done
    echo "$g"
}
COSIGN_SERVE=(--cosigners)
[[ -n "${BENCH_BUNKER_COSIGNER_TIMEOUT:-}" ]] && COSIGN_SERVE+=(--cosigner-timeout "$BENCH_BUNKER_COSIGNER_TIMEOUT")
# Limits far above the load unless asked: the run measures the bunker, not the limiter.
[[ -n "${BENCH_BUNKER_DEFAULT_LIMITS:-}" ]] || COSIGN_SERVE+=(
    --rate-per-pubkey 100000 --burst-per-pubkey 100000 --rate-per-ip 100000 --burst-per-ip 100000)

# Starts the three agents for group $1 via $2 (tag $3), answering the bunker $BPK; sets
# AGENTS to their pids. Fails
# (returning 1, after writing the first agent's error to $W/agent-error) when an agent
# exits or is not ready within 60 s.
start_agents() {
    local g="$1" via="$2" tag="$3" m pid
    AGENTS=()
    for m in "${COSIGNERS[@]}"; do
        # --coordinator: over relays only the bunker's requests may be answered.
        "$BIN" --home "$W/$m" --json cosign --via "$via" --group "$g" --yes --pool 8 \
            --coordinator "$BPK" \
            >"$W/$m-$tag.out" 2>"$W/$m-$tag.err" &
        pid=$!
        PIDS+=("$pid")
        AGENTS+=("$pid")
    done
    local i=0
    for m in "${COSIGNERS[@]}"; do
        if ! wait_line "$W/$m-$tag.out" '"ready": ?true' "${AGENTS[$i]}" 60 >/dev/null 2>&1; then
            # With --json the error is a JSON object on stdout; otherwise stderr's last line.
            python3 - "$W/$m-$tag.out" "$W/$m-$tag.err" >"$W/agent-error" <<'PY' || true
import json, sys
for line in open(sys.argv[1]):
    try:
        print(json.loads(line)["error"]["message"]); sys.exit()
    except (ValueError, KeyError, TypeError):
        pass
err = [l.strip() for l in open(sys.argv[2]) if l.strip()]
print(err[-1] if err else "no agent was ready within 60 s")
PY
            return 1
        fi
        i=$((i + 1))
    done
}

echo "three co-signers over HTTP" >&2
G2="$(deal_cosigners dealer)"
echo "  group $G2" >&2
start_serve dealer "${COSIGN_SERVE[@]}"
if start_agents "$G2" "$HTTP" http; then
    OWN_URL="$HTTP" measure cosigners_http passport "$BPK" "$RELAY" "$W/dealer/serve/serve.sqlite"

    echo "three co-signers over HTTP, cs-c hung (SIGSTOP)" >&2
    kill -STOP "${AGENTS[2]}"
    measure cosigners_hung passport "$BPK" "$RELAY" "$W/dealer/serve/serve.sqlite"
    kill -CONT "${AGENTS[2]}"
else
    why="$(cat "$W/agent-error")"
    echo "  co-signers over HTTP failed: $why" >&2
    for c in cosigners_http cosigners_hung; do
        python3 -c 'import json,sys; print(json.dumps({"case": sys.argv[1], "failed": sys.argv[2]}))' "$c" "$why"
    done
fi
stop_pids "${AGENTS[@]}" "$SERVE"

echo "three co-signers over the relay" >&2
G3="$(deal_cosigners dealer-relay)"
echo "  group $G3" >&2
start_serve dealer-relay "${COSIGN_SERVE[@]}"
if start_agents "$G3" "$RELAY" relay; then
    measure cosigners_relay passport "$BPK" "$RELAY" "$W/dealer-relay/serve/serve.sqlite"
else
    why="$(cat "$W/agent-error")"
    echo "  co-signers over the relay: not available in this build ($why)" >&2
    python3 -c 'import json,sys; print(json.dumps({"case": "cosigners_relay", "skipped": "not available in this build: " + sys.argv[1]}))' "$why"
fi
stop_pids "${AGENTS[@]}" "$SERVE"
