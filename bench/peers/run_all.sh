#!/usr/bin/env bash
# Run every peer benchmark once, one at a time, appending one JSON line per run to
# bench/peers/results.jsonl (override with OUT=...). Needs setup.sh to have run.
#
#   bash bench/peers/run_all.sh            # everything (about 15 minutes on 2 cores)
#   ONLY=bytewax bash bench/peers/run_all.sh   # or ONLY=pyflink
#
# Sizes (env overrides): B1 2M and 5M everywhere. B3 is 2M for Bytewax, but PyFlink's keyed
# python path runs at ~2,500 events/s on 2 cores, so PyFlink B3/B2 default to 200k events
# (PYFLINK_B3_EVENTS / PYFLINK_B2_EVENTS; 2M/5M would take ~13 min / ~40 min).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RAYFLINK_PEERS_VENV:-$HOME/.cache/rayflink-peers}"
PY="$VENV/bin/python"
OUT="${OUT:-$HERE/results.jsonl}"
ONLY="${ONLY:-all}"
B1_SIZES="${B1_SIZES:-2000000 5000000}"
B3_EVENTS="${B3_EVENTS:-2000000}"
B2_EVENTS="${B2_EVENTS:-5000000}"
PYFLINK_B3_EVENTS="${PYFLINK_B3_EVENTS:-200000}"
PYFLINK_B2_EVENTS="${PYFLINK_B2_EVENTS:-200000}"
L1_RATE="${L1_RATE:-1000}"
L1_DURATION="${L1_DURATION:-30}"

[ -x "$PY" ] || { echo "no peers venv at $VENV: run bench/peers/setup.sh" >&2; exit 1; }

run() {  # run <cmd...>: keep the last JSON line of stdout
    echo "+ $*" >&2
    local line
    line="$("$@" 2>"$HERE/.last_stderr.log" | grep '^{' | tail -1)"
    if [ -n "$line" ]; then
        echo "$line" | tee -a "$OUT"
    else
        echo "FAILED: $* (stderr tail below)" >&2
        tail -20 "$HERE/.last_stderr.log" >&2
    fi
}

if [ "$ONLY" = all ] || [ "$ONLY" = bytewax ]; then
    for n in $B1_SIZES; do run "$PY" "$HERE/bytewax_bench.py" --workload B1 --events "$n"; done
    run "$PY" "$HERE/bytewax_bench.py" --workload B3 --events "$B3_EVENTS" --keys 100000
    run "$PY" "$HERE/bytewax_bench.py" --workload B2 --events "$B2_EVENTS" --keys 1000
fi
if [ "$ONLY" = all ] || [ "$ONLY" = pyflink ]; then
    for n in $B1_SIZES; do run "$PY" "$HERE/pyflink_bench.py" --workload B1 --events "$n"; done
    # PyFlink's default for a local job: python workers as threads of the client process.
    run "$PY" "$HERE/pyflink_bench.py" --workload B1 --events 2000000 --worker-mode loopback
    run "$PY" "$HERE/pyflink_bench.py" --workload B3 --events "$PYFLINK_B3_EVENTS" --keys 100000
    run "$PY" "$HERE/pyflink_bench.py" --workload B2 --events "$PYFLINK_B2_EVENTS" --keys 1000
    # L1 at 10,000 events/s is not sustainable (keyed python path ~2,500/s): measured at L1_RATE.
    run "$PY" "$HERE/pyflink_bench.py" --workload L1 --rate "$L1_RATE" --duration "$L1_DURATION"
fi
echo "results in $OUT" >&2
