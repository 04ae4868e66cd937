#!/bin/bash
# limits.sh SHEARS BROKER WORKER SYNTH - every limit refuses with a clear
# error, the broker keeps serving and nothing stored is lost:
#   a sweep that expands past 20,000 jobs; a sweep file over 1 MiB; an
#   artifact over the broker's --max-artifact-mb; too many --set overrides;
#   a worker name of 128 characters or more; synthetic jobs on a broker
#   without --allow-synthetic.
source "$(dirname "$0")/../integration/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3 SYNTH=$4
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP
"$BROKER" --bind "$EP" --state "$TMP/state" --allow-synthetic --max-artifact-mb 1 \
    --heartbeat-ms 200 --liveness-ms 1500 > "$TMP/broker.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_listening "$TMP/broker.log"
"$WORKER" --broker "$EP" --threads 1 --cache "$TMP/cache" --name w1 --heartbeat-ms 200 \
    --liveness-ms 1500 > "$TMP/w1.log" 2>&1 &
PIDS+=("$!")
expect_refusal() { # WHAT PATTERN COMMAND...: exit status 2 and a message matching PATTERN
    local what=$1 pattern=$2 rc=0
    shift 2
    "$@" > "$TMP/out.txt" 2> "$TMP/err.txt" || rc=$?
    [ $rc -eq 2 ] || { cat "$TMP/err.txt"; fail "$what: exit $rc, not 2"; }
    grep -Eq "$pattern" "$TMP/err.txt" || { cat "$TMP/err.txt"; fail "$what: message"; }
    echo "refused, $what: $(head -1 "$TMP/err.txt")"
}

# A first sweep, whose results must survive everything below.
ok=$("$SYNTH" submit "$EP" 5 0 1000 1) || fail "submit"
"$SHEARS" run --print-sweep > "$TMP/sweep.yaml"
expect_refusal "jobs per sweep" "20000" \
    "$SHEARS" submit "$TMP/sweep.yaml" --set "seeds=[$(seq -s, 1 64)]" --set prune.rounds=200
{ cat "$TMP/sweep.yaml"; head -c 1100000 /dev/zero | tr '\0' '#'; echo; } > "$TMP/huge.yaml"
expect_refusal "sweep file size" "huge.yaml.*(too large|larger|limit)" "$SHEARS" submit "$TMP/huge.yaml"
sets=(); for i in $(seq 65); do sets+=(--set "train.epochs=$i"); done
expect_refusal "--set overrides" "64" "$SHEARS" submit "$TMP/sweep.yaml" "${sets[@]}"
expect_refusal "worker name length" "name" \
    "$WORKER" --broker "$EP" --name "$(head -c 128 /dev/zero | tr '\0' w)"

# An artifact over --max-artifact-mb 1: the upload is refused, the job fails
# with the reason, nothing half-written stays.
big=$("$SYNTH" submit "$EP" 1 0 2000000 2) || fail "submit big"
for _ in $(seq 150); do
    "$SHEARS" status "$big" > "$TMP/st.txt" 2>&1 && grep -q "1 failed" "$TMP/st.txt" && break
    sleep 0.2
done
grep -q "1 failed" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "oversized artifact fails its job"; }
grep -q "exceeds the limit of 1048576" "$TMP/broker.log" || fail "artifact limit named"
echo "refused, artifact size: $(grep -m1 'exceeds the limit' "$TMP/broker.log" | cut -d' ' -f4-)"
check "nothing half-written" test -z "$(ls -A "$TMP/state/artifacts/tmp")"

# Synthetic jobs are refused by a broker that was not told to accept them.
EP2=tcp://127.0.0.1:$(free_port)
"$BROKER" --bind "$EP2" --state "$TMP/state2" > "$TMP/broker2.log" 2>&1 &
PIDS+=("$!")
wait_listening "$TMP/broker2.log"
"$SYNTH" submit "$EP2" 1 0 0 3 2> "$TMP/err.txt" && fail "synthetic jobs accepted"
grep -q "forbidden" "$TMP/err.txt" || { cat "$TMP/err.txt"; fail "synthetic refusal names why"; }
echo "refused, synthetic jobs: $(cat "$TMP/err.txt")"

# Still serving, and the first sweep's results are intact.
kill -0 "$BPID" || fail "broker still running"
for _ in $(seq 150); do
    "$SHEARS" status "$ok" > "$TMP/st.txt" 2>&1 && grep -q "5 done" "$TMP/st.txt" && break
    sleep 0.2
done
"$SHEARS" results "$ok" --csv > "$TMP/ok.csv"
check "earlier results intact" test "$(tail -n +2 "$TMP/ok.csv" | wc -l)" -eq 5
echo "limits: ok"
