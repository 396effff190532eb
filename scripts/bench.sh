#!/usr/bin/env bash
# Benchmarks for passport: threshold signing (bare FROST vs. passport envelopes vs. one
# single-key BIP-340 signature), in-process DKG (bare ZF FROST vs passport through
# envelopes: whole ceremony at n = 3, 10 and, once each, 50 and 100; one member's work at
# n = 10, 50, 100), the wall time of one
# `passport sign share` process, a bounded load run against `passport serve`, and a
# 3-member DKG + signing end to end through files, serve and a relay, and the NIP-46
# bunker (scripts/bench-bunker.sh: single-key signers, local 2-of-3, co-signers over HTTP,
# over the relay and with one hung, each as a ratio to the single-key baseline). Every
# figure in the final table comes from this run. BENCH_BUNKER_* knobs: see bench-bunker.sh.
#
#   scripts/bench.sh                  # everything (~16 minutes on 2 cores)
#   BENCH_LOAD_MEMBERS=50 BENCH_LOAD_SECS=20 BENCH_E2E_RUNS=3 scripts/bench.sh
#   BENCH_SHARE_RUNS=20 scripts/bench.sh
#   BENCH_DKG_FULL="" scripts/bench.sh      # skip the whole-ceremony runs at n = 50, 100 (~5 min)
#   BENCH_NO_HYPERFINE=1 scripts/bench.sh   # time `sign share` with a bash loop
#
# Criterion results: $CARGO_TARGET_DIR/criterion/<group>/<bench>/new/estimates.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
CRITERION_DIR="$CARGO_TARGET_DIR/criterion"
BIN="$CARGO_TARGET_DIR/release/passport"
SHARE_RUNS="${BENCH_SHARE_RUNS:-10}"
LOAD_MEMBERS="${BENCH_LOAD_MEMBERS:-50}"
LOAD_SECS="${BENCH_LOAD_SECS:-20}"
E2E_RUNS="${BENCH_E2E_RUNS:-3}"
DKG_FULL="${BENCH_DKG_FULL-50 100}"
EXAMPLES="$CARGO_TARGET_DIR/release/examples"
# The process benchmark must not pick up the caller's home or secrets.
unset PASSPORT_HOME PASSPORT_PASSPHRASE PASSPORT_AGE_IDENTITY

command -v python3 >/dev/null || { echo "bench.sh: python3 is required" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/passport-bench.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the release binary, the load generator and the test relay"
cargo build --release --bin passport --example serve_load --example relay --example bunker_load \
    --example dkg_full

echo
echo "== criterion: benches/signing.rs, benches/dkg.rs, benches/hsm.rs, benches/ecdh.rs"
# Remove earlier results so the table below can only show numbers from this run.
rm -rf "$CRITERION_DIR/sign_2of3" "$CRITERION_DIR/sign_7of10" \
    "$CRITERION_DIR/single_key" "$CRITERION_DIR/dkg" "$CRITERION_DIR/dkg_member" \
    "$CRITERION_DIR/sign_share" "$CRITERION_DIR/seal_unseal" "$CRITERION_DIR/ecdh_2of3"
cargo bench --bench signing --bench dkg --bench hsm --bench ecdh -- --noplot

# The whole DKG at sizes too slow for criterion's ten samples: bare, passport, bare.
echo
echo "== DKG, all members in one process, bare, passport, bare: n = $DKG_FULL (examples/dkg_full.rs)"
DKG_FULL_RESULT=""
if [[ -n "$DKG_FULL" ]]; then
    # shellcheck disable=SC2086 # sizes, split on purpose
    DKG_FULL_RESULT="$("$EXAMPLES/dkg_full" $DKG_FULL)"
    echo "$DKG_FULL_RESULT"
fi

# --- process wall time: passport sign share ---
# One `passport sign share` process (parse + check the request, open the home, decrypt
# the share and the nonce from an age X25519-identity keystore, burn the nonce, sign,
# write the share package) for a 2-of-3 group made by DKG through the CLI. A nonce can
# be used once, so SHARE_RUNS requests are prepared up front from SHARE_RUNS
# commitments and only the `sign share` invocations are timed.
# Writes the mean in ms to stdout (last line); everything else goes to stderr.
share_wall_time() {
    local p="$WORK/proc" m npub group
    mkdir -p "$p/dkg" "$p/commit" "$p/requests" "$p/shares"
    # Setup chatter goes to a log, printed only if something fails.
    run() { "$BIN" "$@" >/dev/null 2>>"$WORK/setup.log"; }
    out() { "$BIN" "$@" 2>>"$WORK/setup.log"; }
    json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

    local members=()
    for m in a b c; do
        run --home "$p/$m" init --age-identity "$p/$m.key"
        npub="$(out --home "$p/$m" id --json | json_field npub)"
        members+=(--member "$m=$npub")
    done
    run roster new --threshold 2 "${members[@]}" --purpose bench -o "$p/roster.json"
    for m in a b c; do run --home "$p/$m" dkg round1 --roster "$p/roster.json" --out "$p/dkg"; done
    for m in a b c; do
        run --home "$p/$m" dkg round2 --roster "$p/roster.json" --in "$p/dkg" --out "$p/dkg"
    done
    for m in a b c; do
        group="$(out --home "$p/$m" --json dkg finish --roster "$p/roster.json" \
            --in "$p/dkg" --out "$p/dkg" | json_field group)"
    done
    for m in a b c; do run --home "$p/$m" dkg confirm --roster "$p/roster.json" --in "$p/dkg"; done
    echo "group $group (2-of-3, DKG via the CLI)" >&2

    # a coordinates; a and b are the signers; b's `sign share` is timed.
    for m in a b; do
        run --home "$p/$m" sign commit --group "$group" --count "$SHARE_RUNS" --out "$p/commit"
    done
    local message i req
    message="$(python3 -c 'print(b"passport bench: 32-byte message!".hex())')"
    for ((i = 1; i <= SHARE_RUNS; i++)); do
        req="$(out --home "$p/a" --json sign request --group "$group" --message "$message" \
            --in "$p/commit" --out "$p/requests" | json_field package)"
        mkdir -p "$p/queue/$i"
        mv "$req" "$p/queue/$i/request.json"
    done

    if [[ -z "${BENCH_NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null; then
        # Before each timed run, move the next unused request to $p/request.json.
        cat >"$p/next.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
next="\$(ls "$p/queue" | sort -n | head -n 1)"
mv "$p/queue/\$next/request.json" "$p/request.json"
rmdir "$p/queue/\$next"
EOF
        chmod +x "$p/next.sh"
        hyperfine -N --warmup 0 --runs "$SHARE_RUNS" --prepare "$p/next.sh" \
            --export-json "$p/hyperfine.json" \
            "$BIN --home $p/b sign share --request $p/request.json --yes --out $p/shares" >&2
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f hyperfine" % (r["mean"]*1e3))' \
            "$p/hyperfine.json"
    else
        local t0 t1 total=0
        for ((i = 1; i <= SHARE_RUNS; i++)); do
            t0="$(date +%s%N)"
            run --home "$p/b" sign share --request "$p/queue/$i/request.json" --yes --out "$p/shares"
            t1="$(date +%s%N)"
            total=$((total + t1 - t0))
        done
        python3 -c 'import sys; print(f"{int(sys.argv[1])/int(sys.argv[2])/1e6:.2f} bash-loop")' \
            "$total" "$SHARE_RUNS"
    fi
    local shares
    shares="$(find "$p/shares" -name 'sign-share-b-*.json' | wc -l)"
    [[ "$shares" -eq "$SHARE_RUNS" ]] || { echo "expected $SHARE_RUNS share packages, got $shares" >&2; return 1; }
}

echo
echo "== process wall time: passport sign share"
SHARE_RESULT=""
if [[ -x "$BIN" ]] && "$BIN" sign share --help >/dev/null 2>&1 \
    && "$BIN" dkg finish --help >/dev/null 2>&1 && "$BIN" id --help >/dev/null 2>&1; then
    set +e
    (set -euo pipefail; share_wall_time) >"$WORK/share.out"
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        SHARE_RESULT="$(tail -n 1 "$WORK/share.out")"
    else
        [[ -f "$WORK/setup.log" ]] && tail -n 20 "$WORK/setup.log"
        echo "skipped: the CLI run failed (exit $rc)"
    fi
else
    echo "skipped: CLI not available ($BIN lacks init/id/dkg/sign share)"
fi

# Starts a background process whose first stdout line holds its URL; prints the URL.
start_server() {
    local log="$1"; shift
    "$@" >"$log.out" 2>"$log.err" &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -s "$log.out" ]]; then
            head -n 1 "$log.out" | grep -oE '(https?|wss?)://[^ ",]+' | head -n 1
            return 0
        fi
        sleep 0.1
    done
    echo "no URL from $*: $(cat "$log.err")" >&2
    return 1
}

# --- end to end: a 3-member DKG, then one signature, through files, serve or a relay ---
# Prints "<dkg µs> <sign µs>" for one run on fresh homes.
e2e_once() {
    local via="$1" d="$WORK/e2e/run.$RANDOM$RANDOM" m npub group members=()
    mkdir -p "$d/x" "$d/s"
    run() { "$BIN" "$@" >/dev/null 2>>"$d/log"; }
    field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }
    for m in a b c; do
        run --home "$d/$m" init --age-identity "$d/$m.key"
        npub="$("$BIN" --home "$d/$m" --json id 2>>"$d/log" | field npub)"
        members+=(--member "$m=$npub")
    done
    run roster new --threshold 2 "${members[@]}" --purpose bench -o "$d/roster.json"
    echo '{"kind":1,"content":"bench","tags":[]}' >"$d/note.json"
    local t0 t1 t2 step
    t0="$(date +%s%N)"
    if [[ "$via" == files ]]; then
        for m in a b c; do run --home "$d/$m" dkg round1 --roster "$d/roster.json" --out "$d/x"; done
        for step in round2 finish; do
            for m in a b c; do
                run --home "$d/$m" dkg "$step" --roster "$d/roster.json" --in "$d/x" --out "$d/x"
            done
        done
        for m in a b c; do run --home "$d/$m" dkg confirm --roster "$d/roster.json" --in "$d/x"; done
        t1="$(date +%s%N)"
        group="$("$BIN" --home "$d/a" --json group list 2>>"$d/log" | field groups.0.npub)"
        for m in a b; do run --home "$d/$m" sign commit --group "$group" --out "$d/s"; done
        local req
        req="$("$BIN" --home "$d/a" --json sign request --group "$group" --event "$d/note.json" \
            --in "$d/s" --out "$d/s" 2>>"$d/log" | field package)"
        for m in a b; do run --home "$d/$m" sign share --request "$req" --yes --out "$d/s"; done
        run --home "$d/a" sign aggregate --request "$req" --in "$d/s" -o "$d/signed.json"
    else
        local pids=() p
        for m in a b c; do
            "$BIN" --home "$d/$m" dkg run --roster "$d/roster.json" --via "$via" >/dev/null 2>>"$d/log" &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        t1="$(date +%s%N)"
        group="$("$BIN" --home "$d/a" --json group list 2>>"$d/log" | field groups.0.npub)"
        "$BIN" --home "$d/b" sign run --group "$group" --yes --via "$via" >/dev/null 2>>"$d/log" &
        local signer=$!
        "$BIN" --home "$d/a" sign run --group "$group" --event "$d/note.json" --yes --via "$via" \
            -o "$d/signed.json" >/dev/null 2>>"$d/log"
        wait "$signer"
    fi
    t2="$(date +%s%N)"
    "$BIN" verify "$d/signed.json" --expect "$group" >/dev/null 2>>"$d/log"
    echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))"
}

e2e() {
    local i
    for ((i = 0; i < E2E_RUNS; i++)); do e2e_once "$1"; done
}

echo
echo "== serve: $LOAD_MEMBERS members posting and long-polling for $LOAD_SECS s (scripts/bench-serve.sh)"
# Signing commitments (committed relaxed), then DKG packages (fsynced, group commit)
# with serve killed by SIGKILL halfway and every acknowledged package checked after.
export BENCH_LOAD_MEMBERS="$LOAD_MEMBERS" BENCH_LOAD_SECS="$LOAD_SECS"
LOAD_RESULT="$(scripts/bench-serve.sh commit)"
echo "$LOAD_RESULT"
LOAD_DKG_RESULT="$(scripts/bench-serve.sh dkg)"
echo "$LOAD_DKG_RESULT"
LOAD_KILL_RESULT="$(scripts/bench-serve.sh dkg kill)"
echo "$LOAD_KILL_RESULT"

echo
echo "== end to end: 3-member DKG + one signature, $E2E_RUNS runs each (files, serve, relay)"
mkdir -p "$WORK/e2e"
E2E_SERVE_URL="$(start_server "$WORK/e2e/serve" "$BIN" --home "$WORK/e2e/serve-home" serve --listen 127.0.0.1:0)"
E2E_RELAY_URL="$(start_server "$WORK/e2e/relay" "$EXAMPLES/relay")"
E2E_FILES="$(e2e files)"
E2E_SERVE="$(e2e "$E2E_SERVE_URL")"
E2E_RELAY="$(e2e "$E2E_RELAY_URL")"
printf 'files:\n%s\nserve:\n%s\nrelay:\n%s\n' "$E2E_FILES" "$E2E_SERVE" "$E2E_RELAY"

echo
echo "== NIP-46 bunker through one relay (scripts/bench-bunker.sh)"
BUNKER_RESULT="$(scripts/bench-bunker.sh)"
echo "$BUNKER_RESULT"

echo
echo "== results (criterion mean of this run)"
python3 - "$CRITERION_DIR" "$SHARE_RESULT" "$SHARE_RUNS" "$LOAD_RESULT" "$E2E_FILES" "$E2E_SERVE" "$E2E_RELAY" "$BUNKER_RESULT" "$DKG_FULL_RESULT" "$LOAD_DKG_RESULT" "$LOAD_KILL_RESULT" <<'PY'
import json
import os
import statistics
import sys

crit, share, share_runs = sys.argv[1], sys.argv[2], sys.argv[3]
load = json.loads(sys.argv[4])
e2e = {name: [tuple(int(x) for x in line.split()) for line in text.splitlines() if line.strip()]
       for name, text in (("files", sys.argv[5]), ("serve", sys.argv[6]), ("relay", sys.argv[7]))}
bunker = {}
for line in sys.argv[8].splitlines():
    if line.strip().startswith("{"):
        v = json.loads(line)
        bunker[(v["case"], v.get("method") or v.get("of"), v.get("clients"))] = v
        bunker.setdefault((v["case"], v.get("method") or v.get("of")), v)
        bunker.setdefault(v["case"], v)


def mean_ns(group, bench):
    path = os.path.join(crit, group, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["mean"]["point_estimate"]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:#.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.0f} ns"


single = mean_ns("single_key", "libsecp256k1")
rows = [("single_key/libsecp256k1", single, None)]
for t, n in ((2, 3), (7, 10)):
    bare = mean_ns(f"sign_{t}of{n}", "bare")
    pp = mean_ns(f"sign_{t}of{n}", "passport")
    rows.append((f"sign_{t}of{n}/bare", bare, None))
    rows.append((f"sign_{t}of{n}/passport", pp, bare))

print(f"{'signing (one signature)':<28}{'mean':>10}{'vs bare':>12}{'vs single-key':>16}")
for name, ns, bare in rows:
    vs_bare = f"{ns / bare:.2f}x" if bare else ""
    print(f"{name:<28}{fmt(ns):>10}{vs_bare:>12}{ns / single:>15.1f}x")
for t, n in ((2, 3), (7, 10)):
    bare = mean_ns(f"sign_{t}of{n}", "bare")
    pp = mean_ns(f"sign_{t}of{n}", "passport")
    print(f"  {t}-of-{n} envelope overhead: {fmt(pp - bare)} per signature "
          f"({(pp - bare) / pp:.0%} of the passport time)")

print()
full = {}
for line in sys.argv[9].splitlines():
    if line.strip().startswith("{"):
        v = json.loads(line)
        full[v["n"]] = v
print(f"{'DKG: bare ZF FROST vs passport (envelopes)':<44}{'bare':>10}{'passport':>10}{'ratio':>8}  goal <= 1.2x")


def dkg_row(label, bare, pp):
    r = pp / bare
    print(f"{label:<44}{fmt(bare):>10}{fmt(pp):>10}{r:>7.2f}x  {'met' if r <= 1.2 else 'not met'}")


for n in (3, 10):
    t = -(-2 * n // 3)
    dkg_row(f"all members, one process, n={n} t={t}",
            mean_ns("dkg", f"n{n}_t{t}_bare"), mean_ns("dkg", f"n{n}_t{t}_passport"))
for n, v in sorted(full.items()):
    dkg_row(f"all members, one process, n={n} t={v['t']} (one run)",
            v["bare_s"] * 1e9, v["passport_s"] * 1e9)
    runs = v.get("bare_runs_s")
    if runs:
        print(f"  (bare: the mean of {runs[0]:.1f} s before passport and {runs[1]:.1f} s after)")
for n in (10, 50, 100):
    t = -(-2 * n // 3)
    dkg_row(f"one member's own work, n={n} t={t}",
            mean_ns("dkg_member", f"n{n}_t{t}_bare"), mean_ns("dkg_member", f"n{n}_t{t}_passport"))
print("  (passport: every package a signed event, parsed, verified and checked; round 2 NIP-44 to")
print("   its recipient; round 1 read again at finish; the agreement round. benches/support/dkg_sim.rs)")

print()
print(f"{'keystore per token kind (criterion)':<44}{'sign share':>12}{'vs file':>9}{'seal+unseal':>13}{'vs file':>9}{'per second':>12}")
kinds = (("file", "age file keystore"), ("softhsm", "SoftHSM2 direct, v2 (AES-ECB KDF)"),
         ("softhsm_v1", "SoftHSM2 direct, v1 (on-token GCM)"),
         ("p11kit_socket", "SoftHSM2 over p11-kit socket, v2"), ("tpm2", "TPM 2.0 (swtpm), v2"))
f_share = mean_ns("sign_share", "file")
f_seal = mean_ns("seal_unseal", "file")
for k, label in kinds:
    try:
        sh, se = mean_ns("sign_share", k), mean_ns("seal_unseal", k)
    except FileNotFoundError:
        print(f"{label:<44}{'skipped (not installed)':>20}")
        continue
    print(f"{label:<44}{fmt(sh):>12}{sh / f_share:>8.2f}x{fmt(se):>13}{se / f_seal:>8.2f}x{1e9 / se:>12,.0f}")

print()
print(f"{'threshold ECDH, 2-of-3 (NIP-44/04)':<36}{'mean':>10}{'vs single-key ECDH':>20}")
ecdh_single = mean_ns("single_key", "generate_shared_key")
print(f"{'single key: generate_shared_key':<36}{fmt(ecdh_single):>10}{'1.0x':>20}")
for b, label in (("share", "one share + DLEQ proof"), ("verify_share", "verify one DLEQ proof"),
                 ("combine", "combine 2 (verify + interpolate)"), ("local", "local: 2 shares in one home")):
    ns = mean_ns("ecdh_2of3", b)
    print(f"{label:<36}{fmt(ns):>10}{ns / ecdh_single:>19.1f}x")

print()
if share:
    ms, how = share.split()
    print(f"process: passport sign share (2-of-3, age X25519-identity keystore): "
          f"mean {ms} ms over {share_runs} runs ({how})")
else:
    print("process: passport sign share: skipped (CLI not available or failed)")
print()
for load in (load, json.loads(sys.argv[10])):
    what = {"commit": "signing commitments, committed relaxed (survive kill -9)",
            "dkg": "DKG packages, each fsynced before its 201 (group commit)"}[load["mode"]]
    print(f"serve load ({load['members']} members, {load['seconds']:.0f} s, loopback; {what}):")
    print(f"  packages accepted: {load['accepted']} ({load['accepted_per_sec']:.0f}/s, goal >= 2000), "
          f"errors: {load['errors']}")
    print(f"  post latency p50 {load['post_p50_ms']:.1f} ms, p99 {load['post_p99_ms']:.1f} ms (goal <= 50)")
    if load["mode"] == "commit":
        print(f"  long-poll delivery p50 {load['delivery_p50_ms']:.1f} ms, p99 {load['delivery_p99_ms']:.1f} ms "
              f"({load['deliveries']} deliveries, {load['polls']} polls)")
    if "serve_cpu_us_per_post" in load:
        print(f"  CPU: serve {load['serve_cpu_us_per_post']:.0f} µs per accepted post "
              f"({load['serve_cpu_s']:.1f} s), the load generator {load.get('load_cpu_s') or 0:.1f} s")
    print(f"  serve RSS: peak {load['serve_rss_peak_kib'] / 1024:.1f} MiB")
k = json.loads(sys.argv[11])
print(f"  durability: the same DKG load with serve killed (SIGKILL) halfway and started again: "
      f"{k['acked'] - k['missing_after_restart']} of {k['acked']} acknowledged packages are there"
      f" ({'met' if k['missing_after_restart'] == 0 else 'NOT MET'})")

print()
print(f"{'end to end, 3 members (median)':<32}{'DKG':>10}{'vs files':>10}{'signing':>10}{'vs files':>10}")
base_dkg = statistics.median(x[0] for x in e2e["files"])
base_sig = statistics.median(x[1] for x in e2e["files"])
for name in ("files", "serve", "relay"):
    dkg = statistics.median(x[0] for x in e2e[name])
    sig = statistics.median(x[1] for x in e2e[name])
    print(f"{name:<32}{fmt(dkg * 1e3):>10}{dkg / base_dkg:>9.2f}x{fmt(sig * 1e3):>10}{sig / base_sig:>9.2f}x")
print("  (files: each step its own CLI process, one after another; serve and relay: `dkg run`")
print("   by the 3 members in parallel, then `sign run` by a coordinator and a signer)")
print()
print("NIP-46 bunker through one local relay (nostr-connect client; issue 14). A goal is met when")
print("the p50 and p99 ratios are both within it and no request failed.")
LABELS = (("single_rust", "single key: nostr-connect"), ("single_js", "single key: nostr-tools"),
          ("local", "local 2-of-3"), ("cosigners_http", "co-signers over HTTP (2-of-3)"),
          ("cosigners_relay", "co-signers over the relay"),
          ("cosigners_hung", "co-signers, 1 of 3 hung"))
GOALS = {"cosigners_http": ("base", 1.5), "cosigners_relay": ("base", 1.5),
         "cosigners_hung": ("cosigners_http", 1.3)}


def rel(a, b):
    return f"{a / b:.2f}x" if b else "-"


levels = sorted({k[2] for k in bunker if isinstance(k, tuple) and len(k) == 3 and k[2]})
for method, clients in [(m, c) for m in ("sign_event", "nip44_encrypt") for c in levels or [None]]:
    res = {c: bunker.get((c, method, clients), {}).get("result") for c, _ in LABELS}
    bases = [c for c in ("single_rust", "single_js") if res[c] and res[c]["requests"]]
    if not bases:
        print(f"{method}: no single-key baseline measured")
        continue
    base = min(bases, key=lambda c: res[c]["p50_ms"])
    b = res[base]
    print()
    who = f"{clients} client{'s at once' if clients != 1 else ''}, " if clients else ""
    print(f"{method} ({who}{b['requests']} requests a case; baseline: {dict(LABELS)[base]}, the faster by p50)")
    print(f"{'signer':<31}{'p50':>9}{'p99':>10}{'max':>10}{'req/s':>7}{'p50/base':>10}{'p99/base':>10}{'req/s/base':>11}  goal")
    for case, label in LABELS:
        r = res[case]
        if not r:
            why = bunker.get(case, {}).get("skipped") or bunker.get(case, {}).get("failed") or "not run"
            print(f"{label:<31}  {why}")
            continue
        line = (f"{label:<31}{r['p50_ms']:>7.1f}ms{r['p99_ms']:>8.1f}ms{r['max_ms']:>8.0f}ms{r['per_sec']:>7.1f}"
                f"{rel(r['p50_ms'], b['p50_ms']):>10}{rel(r['p99_ms'], b['p99_ms']):>10}"
                f"{rel(r['per_sec'], b['per_sec']):>11}")
        goal = GOALS.get(case)
        if goal:
            against = b if goal[0] == "base" else res.get(goal[0])
            if against:
                p50r, p99r = r["p50_ms"] / against["p50_ms"], r["p99_ms"] / against["p99_ms"]
                ok = p50r <= goal[1] and p99r <= goal[1] and not r["errors"]
                what = "single key" if goal[0] == "base" else "healthy co-signers"
                extra = "" if goal[0] == "base" else f" (vs healthy: p50 {p50r:.2f}x, p99 {p99r:.2f}x)"
                line += f"  <= {goal[1]}x {what}: {'met' if ok else 'not met'}{extra}"
            else:
                line += "  goal not checked: no healthy co-signer figure"
        if r["errors"]:
            line += f"  errors: {r['errors']}"
        print(line)
print()
for of, label in (("local", "local 2-of-3"), ("cosigners_http", "co-signers over HTTP")):
    for clients in levels or [None]:
        p = bunker.get(("processing", of, clients), {}).get("result")
        if not p or not p["count"]:
            continue
        median = f"{p['sign_event_p50_ms']:.2f} ms median, " if p.get("sign_event_p50_ms") else ""
        goal = ""
        if of == "local" and clients == 1 and p.get("sign_event_p50_ms"):
            goal = f"; goal <= 2 ms median: {'met' if p['sign_event_p50_ms'] <= 2 else 'not met'}"
        print(f"  bunker's own time per sign_event ({label}, {clients} client(s); receipt to reply "
              f"ready): {median}{p['sign_event_mean_ms']:.2f} ms mean over {p['count']}{goal}")
c = bunker.get("clients")
if c:
    print(f"  serve RSS with {c['result']['clients']} authorized clients, each answered once "
          f"({c['result']['answered']} replies): {c['rss_kib'] / 1024:.1f} MiB "
          f"(peak {c['hwm_kib'] / 1024:.1f} MiB)")
PY
