#!/bin/bash
# distributed.sh SHEARS BROKER WORKER - a broker and workers as separate
# processes on 127.0.0.1:
#   1. a sweep through the broker and two workers gives exactly the metrics
#      of `shears run` on the same sweep and seeds;
#   2. resubmitting a finished sweep runs no job and returns at once;
#   3. SIGKILL of a worker mid-job: the lease expires, the other worker
#      finishes, the sweep completes, no result is duplicated;
#   4. SIGKILL of the broker mid-sweep and a restart on the same state: the
#      sweep completes with every result;
#   5. cancel drops queued jobs and keeps finished results;
#   6. SIGTERM drains a worker: its running job finishes, then it exits 0;
#   7. bad requests get clear errors and exit codes.
source "$(dirname "$0")/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3

EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP

start_broker() {
    "$BROKER" --bind "$EP" --state "$TMP/state" --heartbeat-ms 200 --liveness-ms 1500 \
        --log-level debug >> "$TMP/broker.log" 2>&1 &
    BPID=$!
    PIDS+=("$BPID")
    for _ in $(seq 100); do
        [ "$(grep -c listening "$TMP/broker.log")" -ge "${1:-1}" ] && return
        sleep 0.1
    done
    cat "$TMP/broker.log"; fail "broker did not start"
}
declare -A WPID
start_worker() {
    "$WORKER" --broker "$EP" --threads 1 --cache "$TMP/cache-$1" --name "$1" \
        --heartbeat-ms 200 --liveness-ms 1500 >> "$TMP/$1.log" 2>&1 &
    WPID[$1]=$!
    PIDS+=("$!")
}
# Waits (up to $2 s) until `shears status` output matches $1.
wait_status() {
    for _ in $(seq $(( ${2:-120} * 5 ))); do
        "$SHEARS" status ${3:+"$3"} > "$TMP/st.txt" 2>&1 && grep -Eq "$1" "$TMP/st.txt" && return 0
        sleep 0.2
    done
    cat "$TMP/st.txt"; fail "status never matched '$1'"
}

sweep() { # seed epochs rounds
    cat <<YAML
name: dist-$1
dataset: {name: fashion-mnist, path: $FMNIST}
model: lenet_300_100
seeds: [$1]
train: {epochs: $2, batch: 128, lr: 0.1, schedule: {milestones: [1]}}
prune: {rate: 0.5, rounds: $3}
retrain: [lr-rewind, {technique: weight-rewind, rewind_epoch: 1}]
YAML
}

start_broker
start_worker wa
start_worker wb

# 1. Same metrics as `shears run`.
sweep 11 2 2 > "$TMP/s11.yaml"
id=$("$SHEARS" submit "$TMP/s11.yaml" --priority 1)
"$SHEARS" watch "$id" > "$TMP/watch1.txt" 2>&1 || { cat "$TMP/watch1.txt"; fail "watch 1"; }
"$SHEARS" results "$id" --csv > "$TMP/dist.csv" || fail "results --csv"
"$SHEARS" run "$TMP/s11.yaml" -o "$TMP/local" -j 2 -t 2 -q > /dev/null || fail "shears run"
check "5 rows" test "$(tail -n +2 "$TMP/dist.csv" | wc -l)" -eq 5
diff <(stable_metrics "$TMP/dist.csv") <(stable_metrics "$TMP/local/metrics.csv") \
    || fail "distributed metrics differ from shears run"
"$SHEARS" results "$id" --json | head -1 | grep -q '"job":"[0-9a-f]\{64\}","kind":"train"' \
    || fail "results --json"
"$SHEARS" results "$id" | grep -q 'dense test accuracy' || fail "results table"
"$SHEARS" fetch "$id" -o "$TMP/fetched" > /dev/null || fail "fetch"
diff <(stable_metrics "$TMP/fetched/metrics.csv") <(stable_metrics "$TMP/dist.csv") || fail "fetched metrics"
check "fetched checkpoints (5 rows + rewind point)" test "$(ls "$TMP"/fetched/jobs/*/final.ckpt | wc -l)" -eq 6
for f in "$TMP"/fetched/jobs/*/final.ckpt; do
    cmp -s "$f" "$TMP/local/jobs/$(basename "$(dirname "$f")")/final.ckpt" || fail "checkpoint $f differs"
done
"$SHEARS" workers | grep -Eq '^wa +alive' || fail "workers lists wa"
grep -q "job .* done by wa" "$TMP/broker.log" && grep -q "job .* done by wb" "$TMP/broker.log" \
    || fail "both workers ran jobs"

# 2. Resubmitting a finished sweep runs nothing.
grants=$(grep -c 'lease .* granted' "$TMP/broker.log")
id2=$("$SHEARS" submit "$TMP/s11.yaml" 2> "$TMP/sub2.txt")
grep -q "5 jobs, 5 already done" "$TMP/sub2.txt" || { cat "$TMP/sub2.txt"; fail "resubmit reuse"; }
timeout 5 "$SHEARS" watch "$id2" > /dev/null 2>&1 || fail "watch of a finished sweep returns at once"
check "no lease granted for a finished sweep" test "$(grep -c 'lease .* granted' "$TMP/broker.log")" -eq "$grants"

# 3. SIGKILL a worker in the middle of a job.
sweep 12 3 2 > "$TMP/s12.yaml"
id3=$("$SHEARS" submit "$TMP/s12.yaml")
wait_status ' on w[ab]: train epoch [1-9]' 120 "$id3"
victim=$(grep -Eo ' on w[ab]:' "$TMP/st.txt" | head -1 | tr -d ' :' | sed 's/^on//')
kill -9 "${WPID[$victim]}"
echo "killed $victim mid-job"
"$SHEARS" watch "$id3" > /dev/null 2>&1 || fail "sweep completes after a worker is killed"
grep -q "worker $victim lost" "$TMP/broker.log" || fail "lease expiry logged"
grep -q "lease .* expired" "$TMP/broker.log" || fail "lease expired"
"$SHEARS" results "$id3" --csv > "$TMP/r3.csv"
check "every row done once" test "$(tail -n +2 "$TMP/r3.csv" | cut -d, -f1 | sort | uniq | wc -l)" -eq 5
check "no duplicated result rows" test "$(tail -n +2 "$TMP/r3.csv" | wc -l)" -eq 5
start_worker "$victim"

# 4. SIGKILL the broker mid-sweep, restart it on the same state.
sweep 13 3 2 > "$TMP/s13.yaml"
id4=$("$SHEARS" submit "$TMP/s13.yaml")
wait_status "dist-13: running, priority 0: [1-9] done" 180 "$id4"
kill -9 "$BPID"
echo "killed the broker"
sleep 1
start_broker 2
"$SHEARS" watch "$id4" > "$TMP/watch4.txt" 2>&1 || { cat "$TMP/watch4.txt"; fail "sweep completes after a broker restart"; }
"$SHEARS" results "$id4" --csv > "$TMP/r4.csv"
check "all 5 results after the restart" test "$(tail -n +2 "$TMP/r4.csv" | wc -l)" -eq 5
grep -q "worker wa joined" <(sed -n '/listening/,$p' "$TMP/broker.log" | tail -n +2) \
    || fail "workers rejoin the restarted broker"

# 5. Cancel: queued jobs dropped, finished results kept.
sweep 14 3 3 > "$TMP/s14.yaml"
id5=$("$SHEARS" submit "$TMP/s14.yaml")
wait_status "dist-14: running, priority 0: [1-9] done" 180 "$id5"
"$SHEARS" cancel "$id5" | grep -q "cancelled" || fail "cancel"
"$SHEARS" status "$id5" | grep -q "dist-14: cancelled" || fail "cancelled state"
"$SHEARS" results "$id5" --csv | tail -n +2 | grep -q ',train,' || fail "finished results stay"
wait_status "workers: 2, jobs queued: 0" 20
# A running lease was taken back: its worker stopped the job within a batch.
if grep -q "cancelled: job .* is no longer wanted" "$TMP/broker.log"; then
    for _ in $(seq 50); do
        grep -q " canceled" "$TMP/wa.log" "$TMP/wb.log" && break
        sleep 0.2
    done
    grep -q " canceled" "$TMP/wa.log" "$TMP/wb.log" || fail "worker stopped the cancelled job"
fi

# 6. SIGTERM drains a worker: the job it runs finishes, then it exits 0.
sweep 15 2 1 > "$TMP/s15.yaml"
kill -9 "${WPID[wb]}"
id6=$("$SHEARS" submit "$TMP/s15.yaml")
wait_status ' on wa: train epoch [1-9]' 120 "$id6"
kill -TERM "${WPID[wa]}"
set +e
wait "${WPID[wa]}"
rc=$?
set -e
check "drained worker exits 0 (got $rc)" test "$rc" -eq 0
grep -q "drained; leaving" "$TMP/wa.log" || fail "drain logged"
grep -q "job .* done by wa" <(tail -n 30 "$TMP/broker.log") || fail "drained job finished"
start_worker wb
"$SHEARS" watch "$id6" > /dev/null 2>&1 || fail "sweep 6 completes"

# 7. Bad requests.
set +e
"$SHEARS" status 999 2> "$TMP/e7.txt"; rc=$?
set -e
check "unknown sweep: exit 2" test $rc -eq 2
grep -q "not-found: no sweep 999" "$TMP/e7.txt" || fail "not-found message"
printf 'dataset: fashion-mnist\nmodel: lenet_300_100\nprune: {rate: 2}\n' > "$TMP/bad.yaml"
set +e
"$SHEARS" submit "$TMP/bad.yaml" 2> "$TMP/e8.txt"; rc=$?
"$SHEARS" status --broker tcp://127.0.0.1:1 --timeout 1 2> "$TMP/e9.txt"; rc9=$?
set -e
check "bad sweep: exit 2" test $rc -eq 2
grep -q "bad-sweep: .*bad.yaml:3: 'prune.rate'" "$TMP/e8.txt" || { cat "$TMP/e8.txt"; fail "bad sweep message"; }
check "unreachable broker: exit 3" test $rc9 -eq 3
grep -q "no reply from the broker" "$TMP/e9.txt" || fail "unreachable message"
echo "distributed: ok"
