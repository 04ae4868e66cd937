#!/bin/bash
# netns.sh SHEARS BROKER WORKER - three hosts on one machine: network
# namespaces (broker, worker A, worker B), each worker joined to the broker
# host by its own veth link and subnet (no bridge, so the host's firewall,
# e.g. Docker's FORWARD DROP, does not matter), all traffic over CURVE. A
# sweep runs; worker A's link is cut (ip link set down) while it runs a job;
# the lease is requeued to B and the sweep completes with every result once;
# the link comes back and A rejoins.
# Skips without root or iproute2.
set -euo pipefail
SHEARS=$1 BROKER=$2 WORKER=$3
skip() { echo "SKIP: deploy.netns: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip > /dev/null || skip "iproute2 is not installed"
TAG=sh$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shears-netns.XXXXXX")
FMNIST=${SHEARS_FMNIST:-/usr/share/datasets/fashion-mnist}
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done
    # $! of a backgrounded `ip netns exec` is not always the daemon's pid:
    # kill whatever still runs inside the namespaces.
    for h in b wa wb; do
        ip netns pids "$TAG$h" 2> /dev/null | xargs -r kill -9 2> /dev/null || true
    done
    wait 2> /dev/null || true
    for h in b wa wb; do ip netns del "$TAG$h" 2> /dev/null || true; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "${TAG}b" 2> /dev/null || skip "cannot create network namespaces here"
ip -n "${TAG}b" link set lo up
n=1
for h in wa wb; do
    ip netns add "$TAG$h"
    ip -n "$TAG$h" link set lo up
    ip link add "v$TAG$h" netns "${TAG}b" type veth peer name eth0 netns "$TAG$h"
    ip -n "${TAG}b" addr add "10.77.$n.1/24" dev "v$TAG$h"
    ip -n "${TAG}b" link set "v$TAG$h" up
    ip -n "$TAG$h" addr add "10.77.$n.2/24" dev eth0
    ip -n "$TAG$h" link set eth0 up
    n=$((n + 1))
done
EP=tcp://127.0.0.1:5555
export SHEARS_BROKER=$EP
inb() { ip netns exec "${TAG}b" "$@"; }

# Across hosts the broker speaks CURVE: its own key, one for each worker, one
# for the client, as docs/DEPLOY.md sets them up.
mkdir -p "$TMP/keys" "$TMP/allow/workers" "$TMP/allow/clients"
for k in broker wa wb client; do "$SHEARS" keygen "$TMP/keys/$k" > /dev/null; done
cp "$TMP/keys/wa.pub" "$TMP/keys/wb.pub" "$TMP/allow/workers/"
cp "$TMP/keys/client.pub" "$TMP/allow/clients/"
export SHEARS_CURVE_SECRET=$TMP/keys/client.key SHEARS_CURVE_SERVER=$TMP/keys/broker.pub
inb "$BROKER" --bind tcp://0.0.0.0:5555 --state "$TMP/state" --heartbeat-ms 200 --liveness-ms 1500 \
    --curve-secret "$TMP/keys/broker.key" --allow "$TMP/allow" > "$TMP/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$TMP/broker.log" && break; sleep 0.1; done
n=1
for w in wa wb; do
    ip netns exec "$TAG$w" "$WORKER" --broker "tcp://10.77.$n.1:5555" --threads 1 --cache "$TMP/cache-$w" \
        --name "$w" --heartbeat-ms 200 --liveness-ms 1500 --curve-secret "$TMP/keys/$w.key" \
        > "$TMP/$w.log" 2>&1 &
    PIDS+=($!)
    n=$((n + 1))
done
cat > "$TMP/sweep.yaml" <<YAML
dataset: {name: fashion-mnist, path: $FMNIST}
model: lenet_300_100
train: {epochs: 3, lr: 0.1, schedule: {milestones: [2]}}
prune: {rate: 0.5, rounds: 2}
retrain: [lr-rewind, finetune]
YAML
id=$(inb "$SHEARS" submit "$TMP/sweep.yaml")
# Wait until A is running a job, then cut its link.
for _ in $(seq 600); do
    inb "$SHEARS" status "$id" > "$TMP/st.txt" 2>&1 || true
    grep -q " on wa: train" "$TMP/st.txt" && break
    sleep 0.2
done
grep -q " on wa: train" "$TMP/st.txt" || { cat "$TMP/st.txt"; fail "A never ran a job"; }
ip -n "${TAG}b" link set "v${TAG}wa" down
echo "cut worker A's link"
for _ in $(seq 100); do grep -q "worker wa lost" "$TMP/broker.log" && break; sleep 0.1; done
grep -q "worker wa lost" "$TMP/broker.log" || fail "broker noticed A was gone"
inb "$SHEARS" watch "$id" > /dev/null 2>&1 || fail "sweep completes without A"
inb "$SHEARS" results "$id" --csv > "$TMP/results.csv"
[ "$(tail -n +2 "$TMP/results.csv" | wc -l)" -eq 5 ] || fail "every result once"
[ "$(tail -n +2 "$TMP/results.csv" | cut -d, -f1 | sort -u | wc -l)" -eq 5 ] || fail "no duplicates"
grep -q "lease .* expired" "$TMP/broker.log" || fail "A's lease expired and was requeued"
ip -n "${TAG}b" link set "v${TAG}wa" up
echo "restored worker A's link"
for _ in $(seq 100); do
    [ "$(grep -c 'worker wa joined' "$TMP/broker.log")" -ge 2 ] && break
    sleep 0.2
done
[ "$(grep -c 'worker wa joined' "$TMP/broker.log")" -ge 2 ] || { tail "$TMP/wa.log"; fail "A rejoined"; }
inb "$SHEARS" workers | grep -Eq '^wa +alive' || fail "A is alive again"

# A bad network (where the kernel has sch_netem): 100 ms delay and 10% loss
# each way on both links; a new sweep still completes, every result once.
if ip -n "${TAG}b" link show > /dev/null &&
   tc -n "${TAG}b" qdisc add dev "v${TAG}wa" root netem delay 100ms loss 10% 2> /dev/null; then
    tc -n "${TAG}b" qdisc add dev "v${TAG}wb" root netem delay 100ms loss 10%
    for w in wa wb; do tc -n "$TAG$w" qdisc add dev eth0 root netem delay 100ms loss 10%; done
    id2=$(inb "$SHEARS" submit "$TMP/sweep.yaml" --set train.epochs=1 --set 'train.schedule.milestones=[1]' \
        --set prune.rounds=1 --timeout 30)
    inb "$SHEARS" watch "$id2" --timeout 30 > /dev/null 2>&1 || fail "sweep completes over a lossy link"
    inb "$SHEARS" results "$id2" --csv --timeout 30 > "$TMP/results2.csv"
    [ "$(tail -n +2 "$TMP/results2.csv" | cut -d, -f1 | sort -u | wc -l)" -eq 3 ] \
        || fail "every result once over a lossy link"
    echo "netem: sweep completed with 100 ms delay and 10% loss on every link"
else
    echo "netem: not available in this kernel (sch_netem); delay and loss phase skipped"
fi
echo "netns: ok"
