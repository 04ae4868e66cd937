#!/bin/bash
# curve.sh SHEARS BROKER WORKER - CURVE authentication and encryption with
# real processes on 127.0.0.1:
#   1. keygen writes a 0600 secret key and a public key, never overwrites;
#   2. the broker refuses plaintext on a non-loopback endpoint unless told,
#      and names a bad key file;
#   3. unknown client keys, plaintext clients and a wrong server key get no
#      service; an unknown worker key and a client key used as a worker
#      register no worker;
#   4. the right keys run a real sweep end to end;
#   5. allow-list changes take effect without a restart: a removed client
#      key is refused, a removed worker key drops the worker and requeues
#      nothing twice, and putting it back lets the worker rejoin.
source "$(dirname "$0")/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3
K=$TMP/keys
mkdir -p "$K" "$TMP/allow/clients" "$TMP/allow/workers"

# 1. Keys.
for n in broker w1 w2 c1 c2; do "$SHEARS" keygen "$K/$n" > /dev/null; done
check "secret key is 0600" test "$(stat -c %a "$K/c1.key")" = 600
check "public key is readable" test "$(stat -c %a "$K/c1.pub")" = 644
"$SHEARS" keygen "$K/c1" 2> "$TMP/e.txt" && fail "keygen overwrote a key"
grep -q "exists (not overwritten)" "$TMP/e.txt" || fail "keygen refusal message"
cp "$K/c1.pub" "$TMP/allow/clients/"
cp "$K/w1.pub" "$TMP/allow/workers/"

EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP
pub() { grep -v '^#' "$K/$1.pub"; }
C1=(--curve-secret "$K/c1.key" --curve-server "$K/broker.pub")
C2=(--curve-secret "$K/c2.key" --curve-server "$K/broker.pub")

# 2. Start-up checks.
rc=0; "$BROKER" --bind "tcp://0.0.0.0:$(free_port)" --state "$TMP/s0" 2> "$TMP/e.txt" || rc=$?
check "plaintext on a network endpoint refused" test $rc -eq 2
grep -q "refusing to serve .* without CURVE" "$TMP/e.txt" || fail "plaintext refusal message"
echo "not a key" > "$TMP/bad.key"
rc=0; "$BROKER" --bind "$EP" --state "$TMP/s0" --curve-secret "$TMP/bad.key" --allow "$TMP/allow" \
    2> "$TMP/e.txt" || rc=$?
check "bad secret key file refused" test $rc -eq 2
grep -q "bad.key: not a CURVE key" "$TMP/e.txt" || { cat "$TMP/e.txt"; fail "bad key message"; }
rc=0; "$BROKER" --bind "$EP" --state "$TMP/s0" --curve-secret "$K/broker.key" 2> /dev/null || rc=$?
check "--curve-secret without --allow refused" test $rc -eq 2

"$BROKER" --bind "$EP" --state "$TMP/state" --curve-secret "$K/broker.key" --allow "$TMP/allow" \
    --heartbeat-ms 200 --liveness-ms 1500 > "$TMP/broker.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_listening "$TMP/broker.log"
grep -qF "listening on $EP (CURVE, public key $(pub broker)" "$TMP/broker.log" \
    || { cat "$TMP/broker.log"; fail "broker announces CURVE and its key"; }

# 3. Who gets in.
"$SHEARS" workers "${C1[@]}" > /dev/null || fail "allowed client served"
rc=0; "$SHEARS" workers --timeout 2 > /dev/null 2> "$TMP/e.txt" || rc=$?
check "plaintext client gets no service (exit 3, got $rc)" test $rc -eq 3
grep -q "give --curve-server and --curve-secret" "$TMP/e.txt" || fail "plaintext client hint"
rc=0; "$SHEARS" workers --timeout 2 "${C2[@]}" > /dev/null 2>&1 || rc=$?
check "unknown client key refused (got $rc)" test $rc -eq 3
grep -qF "refused CURVE key $(pub c2)" "$TMP/broker.log" || fail "refusal logged"
rc=0; "$SHEARS" workers --timeout 2 --curve-secret "$K/c1.key" --curve-server "$K/w1.pub" \
    > /dev/null 2>&1 || rc=$?
check "wrong server key gets no service" test $rc -eq 3
rc=0; "$SHEARS" workers --curve-secret "$K/c1.key" > /dev/null 2> "$TMP/e.txt" || rc=$?
check "half a CURVE configuration is a usage error" test $rc -eq 2

declare -A WPID
start_worker() { # NAME SECRET
    "$WORKER" --broker "$EP" --threads 1 --cache "$TMP/cache-$1" --name "$1" \
        --curve-secret "$2" --curve-server "$K/broker.pub" \
        --heartbeat-ms 200 --liveness-ms 1500 >> "$TMP/$1.log" 2>&1 &
    WPID[$1]=$!
    PIDS+=("$!")
}
start_worker intruder "$K/w2.key"
start_worker client-as-worker "$K/c1.key"
start_worker w1 "$K/w1.key"
for _ in $(seq 100); do grep -q "worker w1 joined" "$TMP/broker.log" && break; sleep 0.1; done
grep -q "worker w1 joined" "$TMP/broker.log" || { cat "$TMP/broker.log"; fail "w1 joined"; }
for _ in $(seq 50); do grep -q "refused READY .*not allowed as a worker" "$TMP/broker.log" && break; sleep 0.1; done
grep -qF "refused READY from key $(pub c1) (c1): not allowed as a worker" \
    "$TMP/broker.log" || { cat "$TMP/broker.log"; fail "client key refused as a worker"; }
grep -q "broker refuses this worker's key" "$TMP/client-as-worker.log" || fail "worker told why"
sleep 1
"$SHEARS" workers "${C1[@]}" > "$TMP/workers.txt"
grep -q "w1" "$TMP/workers.txt" || fail "w1 listed"
grep -Eq "intruder|client-as-worker" "$TMP/workers.txt" && fail "unauthorised workers listed"
grep -Eq "joined" <(grep -E "intruder|client-as-worker" "$TMP/broker.log") && fail "intruders joined"

# 4. A real sweep end to end over CURVE.
cd "$TMP"
"$SHEARS" run --print-sweep > default.yaml
"$SHEARS" submit "${C1[@]}" --set train.epochs=1 --set prune.rounds=1 --set 'retrain=[lr-rewind]' \
    --set 'train.schedule.milestones=[1]' --watch default.yaml > submit.out 2> submit.err \
    || { cat submit.err; fail "submit over CURVE"; }
id=$(head -1 submit.out)
"$SHEARS" results "${C1[@]}" "$id" --csv > "$TMP/results.csv"
check "2 results over CURVE" test "$(tail -n +2 "$TMP/results.csv" | wc -l)" -eq 2

# 5. Allow-list changes, no restart.
mv "$TMP/allow/clients/c1.pub" "$TMP/"
cp "$K/c2.pub" "$TMP/allow/clients/"
sleep 1.5
rc=0; "$SHEARS" workers --timeout 2 "${C1[@]}" > /dev/null 2>&1 || rc=$?
check "removed client key refused (got $rc)" test $rc -eq 3
"$SHEARS" workers "${C2[@]}" > /dev/null || fail "added client key served without a restart"
mv "$TMP/allow/workers/w1.pub" "$TMP/"
for _ in $(seq 50); do grep -q "worker w1 lost (key removed" "$TMP/broker.log" && break; sleep 0.1; done
grep -q "worker w1 lost (key removed from the allow list)" "$TMP/broker.log" \
    || { cat "$TMP/broker.log"; fail "removed worker key drops the worker"; }
mv "$TMP/w1.pub" "$TMP/allow/workers/"
for _ in $(seq 100); do
    [ "$(grep -c "worker w1 joined" "$TMP/broker.log")" -ge 2 ] && break
    sleep 0.1
done
check "w1 rejoins once its key is back" test "$(grep -c "worker w1 joined" "$TMP/broker.log")" -ge 2
for w in w1 intruder client-as-worker; do stop_clean "${WPID[$w]}" "worker $w"; done
stop_clean "$BPID" broker
echo "curve: ok"
