#!/usr/bin/env bash
# The NIP-46 bunker under load, through one local relay, in one run: sign_event round
# trips and throughput for (a) a local 2-of-3 bunker, (b) two co-signers (when
# `passport cosign` exists), (c) nostr-connect's single-key signer (the baseline); the
# bunker's own processing time per request (from its /metrics); and serve's RSS with
# 1,000 authorized clients that each sent a request.
#
# Prints one JSON object per measurement on stdout (called by scripts/bench.sh, which
# prints the table); progress on stderr.
#
#   BENCH_BUNKER_REQUESTS=200 BENCH_BUNKER_CONCURRENCY=4 scripts/bench-bunker.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release/passport"
EX="$CARGO_TARGET_DIR/release/examples"
REQUESTS="${BENCH_BUNKER_REQUESTS:-200}"
CONC="${BENCH_BUNKER_CONCURRENCY:-4}"
CLIENTS="${BENCH_BUNKER_CLIENTS:-1000}"
unset PASSPORT_HOME PASSPORT_PASSPHRASE PASSPORT_AGE_IDENTITY PASSPORT_VIA

[[ -x "$BIN" && -x "$EX/bunker_load" && -x "$EX/relay" ]] || \
    cargo build --release --bin passport --example bunker_load --example relay >&2

W="$(mktemp -d "${TMPDIR:-/tmp}/passport-bunker-bench.XXXXXX")"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# First stdout line of a background process that prints its URL when ready.
first_line() {
    local f="$1" i
    for ((i = 0; i < 200; i++)); do
        [[ -s "$f" ]] && { head -n 1 "$f"; return 0; }
        sleep 0.05
    done
    echo "nothing on $f" >&2
    return 1
}

"$EX/relay" >"$W/relay.out" 2>"$W/relay.err" &
PIDS+=($!)
RELAY="$(first_line "$W/relay.out")"
echo "relay $RELAY" >&2

q() { "$BIN" "$@" 2>>"$W/log"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# A dealt 2-of-3 group: the bunker home keeps two seats, `offsite` the third.
for m in bunker offsite; do q --home "$W/$m" init --age-identity "$W/$m.key" >/dev/null; done
B_NPUB="$(q --home "$W/bunker" --json id | field npub)"
O_NPUB="$(q --home "$W/offsite" --json id | field npub)"
q roster new --threshold 2 --purpose bench --dealer "$B_NPUB" \
    --member "bunker-a=$B_NPUB" --member "bunker-b=$B_NPUB" --member "offsite=$O_NPUB" \
    --allow-shared-seats \
    -o "$W/roster.json" >/dev/null
GROUP="$(q --home "$W/bunker" --json keygen deal --roster "$W/roster.json" --out "$W/dealt" | field group)"
q --home "$W/bunker" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-bunker-a.json" >/dev/null
q --home "$W/bunker" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-bunker-b.json" >/dev/null
q --home "$W/offsite" keygen import --roster "$W/roster.json" "$W/dealt/dealer-share-offsite.json" >/dev/null
echo "group $GROUP" >&2

"$BIN" --home "$W/bunker" serve --listen 127.0.0.1:0 --relay "$RELAY" \
    >"$W/serve.out" 2>"$W/serve.err" &
SERVE=$!
PIDS+=("$SERVE")
HTTP="$(first_line "$W/serve.out" | sed 's/^listening on //')"
for ((i = 0; i < 100; i++)); do [[ "$(wc -l <"$W/serve.out")" -ge 2 ]] && break; sleep 0.05; done
URI="$(sed -n 2p "$W/serve.out")"
BPK="${URI#bunker://}"
BPK="${BPK%%\?*}"
DB="$W/bunker/serve/serve.sqlite"

echo "(a) local 2-of-3: $REQUESTS sign_event, $CONC clients" >&2
A="$("$EX/bunker_load" passport "$BPK" "$RELAY" "$DB" "$REQUESTS" "$CONC")"
echo "{\"case\":\"local\",\"result\":$A}"

# The bunker's own time per sign_event (receipt → reply ready), from its histogram.
curl_metrics() {
    python3 - "$HTTP/metrics" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1]).read().decode()
s = c = 0.0
for line in text.splitlines():
    if line.startswith('passport_bunker_request_seconds_sum{method="sign_event",outcome="ok"}'):
        s = float(line.split()[-1])
    if line.startswith('passport_bunker_request_seconds_count{method="sign_event",outcome="ok"}'):
        c = float(line.split()[-1])
print('{"case":"processing","result":{"sign_event_mean_ms":%.3f,"count":%d}}' % (s / c * 1e3 if c else 0, c))
PY
}
curl_metrics

echo "(c) single-key baseline: $REQUESTS sign_event, $CONC clients" >&2
# nostr-connect's own remote signer, in its own process like passport's bunker.
"$EX/bunker_load" single-key-signer "$RELAY" >"$W/single.out" 2>"$W/single.err" &
PIDS+=($!)
SINGLE_URI="$(first_line "$W/single.out")"
sleep 0.5
C="$("$EX/bunker_load" uri "$SINGLE_URI" "$REQUESTS" "$CONC")"
echo "{\"case\":\"single\",\"result\":$C}"

if "$BIN" cosign --help >/dev/null 2>&1; then
    echo "(b) two co-signers: $REQUESTS sign_event, $CONC clients" >&2
    # The dealer home holds the group file and no share: it coordinates co-signers.
    for m in cs-a cs-b; do q --home "$W/$m" init --age-identity "$W/$m.key" >/dev/null; done
    A_NPUB="$(q --home "$W/cs-a" --json id | field npub)"
    B2_NPUB="$(q --home "$W/cs-b" --json id | field npub)"
    q --home "$W/dealer" init --age-identity "$W/dealer.key" >/dev/null
    D_NPUB="$(q --home "$W/dealer" --json id | field npub)"
    q roster new --threshold 2 --purpose bench --dealer "$D_NPUB" \
        --member "cs-a=$A_NPUB" --member "cs-b=$B2_NPUB" --member "offsite=$O_NPUB" \
        -o "$W/roster2.json" >/dev/null
    G2="$(q --home "$W/dealer" --json keygen deal --roster "$W/roster2.json" --out "$W/dealt2" | field group)"
    q --home "$W/cs-a" keygen import --roster "$W/roster2.json" "$W/dealt2/dealer-share-cs-a.json" >/dev/null
    q --home "$W/cs-b" keygen import --roster "$W/roster2.json" "$W/dealt2/dealer-share-cs-b.json" >/dev/null
    "$BIN" --home "$W/dealer" serve --listen 127.0.0.1:0 --relay "$RELAY" --cosigners \
        --rate-per-pubkey 100000 --burst-per-pubkey 100000 \
        --rate-per-ip 100000 --burst-per-ip 100000 \
        >"$W/serve2.out" 2>"$W/serve2.err" &
    PIDS+=($!)
    HTTP2="$(first_line "$W/serve2.out" | sed 's/^listening on //')"
    for ((i = 0; i < 100; i++)); do [[ "$(wc -l <"$W/serve2.out")" -ge 2 ]] && break; sleep 0.05; done
    URI2="$(sed -n 2p "$W/serve2.out")"
    BPK2="${URI2#bunker://}"
    BPK2="${BPK2%%\?*}"
    for m in cs-a cs-b; do
        "$BIN" --home "$W/$m" cosign --via "$HTTP2" --group "$G2" --yes --pool 8 \
            >"$W/$m.out" 2>"$W/$m.err" &
        PIDS+=($!)
    done
    sleep 2
    B="$("$EX/bunker_load" passport "$BPK2" "$RELAY" "$W/dealer/serve/serve.sqlite" "$REQUESTS" "$CONC")"
    echo "{\"case\":\"cosigners\",\"result\":$B}"
else
    echo "(b) two co-signers: skipped (this passport has no cosign command)" >&2
fi

echo "serve RSS with $CLIENTS authorized clients, each answered once" >&2
K="$("$EX/bunker_load" clients "$BPK" "$RELAY" "$DB" "$CLIENTS")"
RSS="$(awk '/VmRSS/ {print $2}' "/proc/$SERVE/status")"
HWM="$(awk '/VmHWM/ {print $2}' "/proc/$SERVE/status")"
echo "{\"case\":\"clients\",\"result\":$K,\"rss_kib\":$RSS,\"hwm_kib\":$HWM}"
