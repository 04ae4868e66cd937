#!/bin/bash
# s3_broker.sh SHEARS BROKER WORKER - the broker's artifact store backed by
# a real S3 server (radosgw on loopback): every upload is written through to
# the bucket; after the broker's local artifacts are lost, results are
# fetched and a new worker's inputs are served from S3, verified by hash.
source "$(dirname "$0")/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: integration.s3_broker: $*"; exit 0; }
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$b" > /dev/null || skip "$b is not installed (scripts/install-deps installs it)"
done
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    bash "$HERE/s3_server.sh" stop "$TMP/ceph" > /dev/null 2>&1 || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
S3PORT=$(free_port)
if ! keys=$(bash "$HERE/s3_server.sh" start "$TMP/ceph" "$S3PORT" 2> "$TMP/s3.err"); then
    cat "$TMP/s3.err" >&2
    [ "$(id -u)" -eq 0 ] || skip "the Ceph test server needs root here"
    fail "s3_server.sh start failed"
fi
read -r ACCESS SECRET <<< "$keys"
export SHEARS_S3="s3://$ACCESS:$SECRET@127.0.0.1:$S3PORT/shears-artifacts"
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP

start_broker() {
    "$BROKER" --bind "$EP" --state "$TMP/state" --heartbeat-ms 200 --liveness-ms 1500 \
        >> "$TMP/broker.log" 2>&1 &
    BPID=$!
    PIDS+=("$BPID")
    for _ in $(seq 100); do
        [ "$(grep -c listening "$TMP/broker.log")" -ge "$1" ] && return
        sleep 0.1
    done
    cat "$TMP/broker.log"; fail "broker did not start"
}
start_worker() {
    "$WORKER" --broker "$EP" --threads 2 --cache "$TMP/cache-$1" --name "$1" \
        --heartbeat-ms 200 --liveness-ms 1500 >> "$TMP/$1.log" 2>&1 &
    WPID=$!
    PIDS+=("$WPID")
}
sweep() {
    cat <<YAML
name: s3-$1
dataset: {name: fashion-mnist, path: $FMNIST}
model: lenet_300_100
train: {epochs: 1, lr: 0.1}
prune: {rate: 0.5, rounds: $1}
YAML
}

start_broker 1
grep -q "written through to S3 bucket shears-artifacts" "$TMP/broker.log" || fail "S3 configured"
start_worker w1
sweep 1 > "$TMP/one.yaml"
id=$("$SHEARS" submit "$TMP/one.yaml")
"$SHEARS" watch "$id" > /dev/null 2>&1 || fail "sweep with S3"
"$SHEARS" fetch "$id" -o "$TMP/before" > /dev/null || fail "fetch"

# Lose the broker's local artifacts; S3 still has them.
kill -TERM "$BPID"; wait "$BPID" 2>/dev/null || true
kill -TERM "$WPID"; wait "$WPID" 2>/dev/null || true
rm -rf "$TMP/state/artifacts"
start_broker 2
"$SHEARS" fetch "$id" -o "$TMP/after" > /dev/null || fail "fetch after the local store was lost"
for f in "$TMP"/before/jobs/*/*.ckpt "$TMP"/before/jobs/*/*.shm; do
    cmp -s "$f" "$TMP/after/${f#"$TMP/before/"}" || fail "$f differs after the S3 restore"
done
grep -q "restored from S3" "$TMP/broker.log" || fail "restore logged"

# A fresh worker (empty cache) continues the chain: its parent comes from S3.
start_worker w2
sweep 2 > "$TMP/two.yaml"
id2=$("$SHEARS" submit "$TMP/two.yaml")
"$SHEARS" watch "$id2" > /dev/null 2>&1 || fail "second sweep after the restore"
check "3 rows, 2 reused" test "$("$SHEARS" results "$id2" --csv | tail -n +2 | wc -l)" -eq 3
echo "s3_broker: ok"
