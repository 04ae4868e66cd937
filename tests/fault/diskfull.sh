#!/bin/bash
# diskfull.sh SHEARS BROKER WORKER SYNTH - the broker's artifact store runs
# out of space (a 1 MiB tmpfs): uploads that do not fit are refused with a
# clear error, the job fails after its attempts with that error, nothing
# half-written stays in the store, finished results are kept, and once
# there is room again new jobs succeed. Needs root (mount); skips otherwise.
source "$(dirname "$0")/../integration/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3 SYNTH=$4
[ "$(id -u)" -eq 0 ] || { echo "SKIP: fault.diskfull: needs root to mount a tmpfs"; exit 0; }
ART=$TMP/state/artifacts
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    umount "$ART" 2> /dev/null || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$ART"
mount -t tmpfs -o size=1m shears-test-artifacts "$ART" || { echo "SKIP: fault.diskfull: cannot mount a tmpfs"; exit 0; }
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP

"$BROKER" --bind "$EP" --state "$TMP/state" --allow-synthetic --heartbeat-ms 200 \
    --liveness-ms 1500 > "$TMP/broker.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_listening "$TMP/broker.log"
"$WORKER" --broker "$EP" --threads 1 --slots 1 --cache "$TMP/cache" --name w1 \
    --heartbeat-ms 200 --liveness-ms 1500 > "$TMP/w1.log" 2>&1 &
PIDS+=("$!")

settled() {
    "$SHEARS" status "$1" > "$TMP/st.txt" 2>&1 && grep -Eq "^sweep $1 [^:]*: done" "$TMP/st.txt"
}
# Three jobs of 400 KB each: two fit in 1 MiB, the third cannot.
id=$("$SYNTH" submit "$EP" 3 0 409600 1) || fail "submit"
for _ in $(seq 300); do settled "$id" && break; sleep 0.2; done
settled "$id" || { cat "$TMP/st.txt"; fail "first sweep settles"; }
grep -q "2 done, .*1 failed" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "two done, one failed"; }
grep -q "upload from w1 refused: .*No space left on device" "$TMP/broker.log" \
    || { cat "$TMP/broker.log"; fail "the refusal names the full disk"; }
"$SHEARS" results "$id" --csv > "$TMP/r1.csv" || fail "results after a full disk"
check "finished results kept" test "$(tail -n +2 "$TMP/r1.csv" | wc -l)" -eq 2
check "nothing half-written left" test -z "$(ls -A "$ART/tmp")"
for f in "$ART"/??/*; do
    [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || fail "artifact $f damaged"
done
kill -0 "$BPID" || fail "broker still running"

# Room again: new work succeeds without a restart.
mount -o remount,size=4m "$ART"
id2=$("$SYNTH" submit "$EP" 3 0 409600 2) || fail "submit after remount"
for _ in $(seq 300); do settled "$id2" && break; sleep 0.2; done
grep -q "3 done, .*0 failed" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "all done once there is room"; }
echo "diskfull: ok"
