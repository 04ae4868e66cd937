#!/bin/bash
# load.sh SHEARS BROKER WORKER SYNTH - 10,000 queued jobs and 50 connected
# worker processes: the broker keeps answering STATUS and its memory stays
# bounded; cancelling the sweep takes every lease back. Prints the STATUS
# round-trip percentiles and the broker's resident memory
# (docs/RELIABILITY.md). The only limits checked are generous ones
# (every request answered, resident memory under 256 MB), never a time.
source "$(dirname "$0")/../integration/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3 SYNTH=$4
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

"$BROKER" --bind "$EP" --state "$TMP/state" --allow-synthetic > "$TMP/broker.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_listening "$TMP/broker.log"
for i in $(seq 50); do
    "$WORKER" --broker "$EP" --threads 1 --slots 1 --cache "$TMP/cache" --name "w$i" \
        --log-level warn >> "$TMP/workers.log" 2>&1 &
    PIDS+=("$!")
done
for _ in $(seq 300); do
    [ "$(grep -c joined "$TMP/broker.log")" -ge 50 ] && break
    sleep 0.1
done
check "50 workers joined" test "$(grep -c joined "$TMP/broker.log")" -ge 50
idle=$("$SYNTH" status "$EP" 200) || fail "status with 50 idle workers: $idle"
rss0=$(rss_mb "$BPID")

# Jobs that sleep 10 minutes: 50 run, 9,950 wait in the queue.
id=$("$SYNTH" submit "$EP" 10000 600000 0 "$$") || fail "submit 10,000 jobs"
for _ in $(seq 300); do
    "$SHEARS" status "$id" > "$TMP/st.txt" 2>&1 && grep -q "50 running, 9950 queued" "$TMP/st.txt" && break
    sleep 0.2
done
grep -q "50 running, 9950 queued" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "50 running, 9,950 queued"; }
loaded=$("$SYNTH" status "$EP" 500) || fail "status under load: $loaded"
rss1=$(rss_mb "$BPID")
"$SHEARS" workers > "$TMP/workers.txt" || fail "workers listing under load"
check "50 workers listed" test "$(grep -c ' alive ' "$TMP/workers.txt")" -eq 50

"$SHEARS" cancel "$id" > /dev/null || fail "cancel under load"
for _ in $(seq 100); do
    "$SHEARS" status "$id" > "$TMP/st.txt" 2>&1 && grep -q ": cancelled" "$TMP/st.txt" \
        && grep -q " 0 running" "$TMP/st.txt" && break
    sleep 0.2
done
grep -q " 0 running" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "cancel takes every lease back"; }
rss2=$(rss_mb "$BPID")
echo "status with 50 idle workers: $idle"
echo "status with 10,000 jobs (50 running) and 50 workers: $loaded"
echo "broker RSS: ${rss0} MB idle, ${rss1} MB with the queue, ${rss2} MB after cancelling"
awk -v m="$rss1" 'BEGIN { exit !(m < 256) }' || fail "broker RSS ${rss1} MB, over 256 MB"
stop_clean "$BPID" broker
echo "load: ok"
