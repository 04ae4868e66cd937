#!/bin/bash
# chaos.sh SHEARS BROKER WORKER SYNTH - a 300-job synthetic sweep and a small
# real sweep on 4 workers while a driver SIGKILLs a random worker every 2 s
# (restarting it), SIGKILLs and restarts the broker twice, and SIGSTOPs a
# worker past the lease window before resuming it. At the end every job has
# exactly one result, the real sweep's metrics equal an undisturbed
# `shears run`, and every stored and fetched artifact matches its hash.
# Prints the counts of faults injected (docs/RELIABILITY.md).
source "$(dirname "$0")/../integration/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3 SYNTH=$4
cleanup() {
    kill -CONT "${WPID[@]}" 2> /dev/null || true
    for p in "${PIDS[@]}" "${WPID[@]}" "${BPID:-}"; do kill -9 "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP

# A lost lease counts as an attempt (a job that kills its worker every time
# must fail in the end), and this driver kills often: the attempt limit is
# raised so that only a real failure fails a job.
start_broker() {
    "$BROKER" --bind "$EP" --state "$TMP/state" --heartbeat-ms 200 --liveness-ms 1500 \
        --allow-synthetic --max-attempts 50 >> "$TMP/broker.log" 2>&1 &
    BPID=$!
}
declare -A WPID
start_worker() {
    "$WORKER" --broker "$EP" --threads 1 --slots 2 --cache "$TMP/cache-$1" --name "$1" \
        --heartbeat-ms 200 --liveness-ms 1500 >> "$TMP/$1.log" 2>&1 &
    WPID[$1]=$!
}
start_broker
wait_listening "$TMP/broker.log"
for w in w1 w2 w3 w4; do start_worker $w; done

# The real sweep: dense run and two lr-rewind rounds, 1 thread per job.
"$SHEARS" run --print-sweep > "$TMP/sweep.yaml"
SETS=(--set train.epochs=2 --set 'train.schedule.milestones=[1]' --set prune.rounds=2
      --set 'retrain=[lr-rewind]')
real=$("$SHEARS" submit "$TMP/sweep.yaml" "${SETS[@]}")
synth=$("$SYNTH" submit "$EP" 300 150 4096 "$$")
# Meanwhile, undisturbed, the reference.
"$SHEARS" run "$TMP/sweep.yaml" "${SETS[@]}" -o "$TMP/ref" -j 1 -t 1 -q > /dev/null &
REF=$!

settled() { # SWEEP: done, failed or blocked covers every job
    "$SHEARS" status "$1" --timeout 2 > "$TMP/st-$1.txt" 2>&1 || return 1
    grep -Eq "^sweep $1 [^:]*: done" "$TMP/st-$1.txt"
}
kills=0 broker_kills=0 stops=0
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 240 ]; do
    el=$((SECONDS - t0))
    if [ $el -ge 20 ] && settled "$real" && settled "$synth"; then break; fi
    if { [ $el -ge 6 ] && [ $broker_kills -eq 0 ]; } || { [ $el -ge 14 ] && [ $broker_kills -eq 1 ]; }; then
        kill -9 "$BPID"; wait "$BPID" 2> /dev/null || true
        broker_kills=$((broker_kills + 1))
        echo "t=${el}s: broker killed and restarted"
        start_broker
    fi
    if [ $el -ge 9 ] && [ $stops -eq 0 ]; then
        kill -STOP "${WPID[w4]}"
        echo "t=${el}s: w4 stopped for 3 s"
        stops=1
        (sleep 3; kill -CONT "${WPID[w4]}") &
    fi
    if [ $el -lt 30 ]; then
        w=w$((RANDOM % 3 + 1))
        kill -9 "${WPID[$w]}"; wait "${WPID[$w]}" 2> /dev/null || true
        kills=$((kills + 1))
        start_worker "$w"
    fi
    sleep 2
done
settled "$real" && settled "$synth" || { cat "$TMP"/st-*.txt; tail -30 "$TMP/broker.log"; fail "sweeps did not finish"; }
echo "faults: $kills worker SIGKILLs, $broker_kills broker SIGKILLs, $stops worker SIGSTOP past the lease window"
echo "broker: $(grep -c 'expired' "$TMP/broker.log") leases expired, $(grep -c ' lost ' "$TMP/broker.log") workers lost"

# Every job exactly one result, none failed.
for s in "$real" "$synth"; do
    grep -Eq "^sweep $s [^:]*: done, .* 0 failed, 0 blocked" "$TMP/st-$s.txt" \
        || { cat "$TMP/st-$s.txt"; fail "sweep $s has failed or blocked jobs"; }
done
"$SHEARS" results "$synth" --csv > "$TMP/synth.csv"
check "300 synthetic results" test "$(tail -n +2 "$TMP/synth.csv" | wc -l)" -eq 300
check "each synthetic job once" test "$(csv_col "$TMP/synth.csv" 1 | sort -u | wc -l)" -eq 300
# The real sweep equals the undisturbed run.
wait "$REF" || fail "reference run"
"$SHEARS" fetch "$real" -o "$TMP/real" > /dev/null || fail "fetch (every file checked against its hash)"
check "3 real results" test "$(tail -n +2 "$TMP/real/metrics.csv" | wc -l)" -eq 3
diff <(stable_metrics "$TMP/ref/metrics.csv") <(stable_metrics "$TMP/real/metrics.csv") \
    || fail "metrics under faults differ from the undisturbed run"
# Every artifact the broker stores matches its name.
n=0
for f in "$TMP"/state/artifacts/??/*; do
    case "$f" in *.tmp*|*.part*) continue ;; esac
    [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || fail "artifact $f fails its hash"
    n=$((n + 1))
done
check "artifacts stored" test "$n" -ge 300
echo "artifacts: $n stored, all match their SHA-256"
kill -CONT "${WPID[@]}" 2> /dev/null || true
for w in w1 w2 w3 w4; do stop_clean "${WPID[$w]}" "worker $w"; done
stop_clean "$BPID" broker
echo "chaos: ok"
