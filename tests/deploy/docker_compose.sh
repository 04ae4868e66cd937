#!/bin/bash
# docker_compose.sh REPO - the container deployment end to end:
# start dockerd (when not running), build a debian:bookworm-slim base with
# debootstrap (no image registry is reachable), build the shears image from
# deploy/Dockerfile, bring up a broker and 2 workers with deploy/compose.yaml,
# run the one-shot client on a small real sweep, check the fetched metrics,
# tear everything down and stop the dockerd this test started.
#
# Skips (exit 0 with "SKIP:") without docker, docker-compose, debootstrap,
# or root, or when dockerd cannot start on this machine.
set -euo pipefail
REPO=$(cd "${1:?usage: docker_compose.sh REPO}" && pwd)
skip() { echo "SKIP: deploy.docker_compose: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dockerd, debootstrap)"
for b in docker dockerd docker-compose debootstrap; do
    command -v "$b" > /dev/null || skip "$b is not installed (apt-get install docker.io docker-compose debootstrap)"
done
TMP=$(mktemp -d /var/tmp/shears-docker.XXXXXX)
STARTED_DOCKERD=
PROJECT=shears-test-$$
cleanup() {
    (cd "$REPO" && docker-compose -p "$PROJECT" -f deploy/compose.yaml down -v --remove-orphans) \
        > /dev/null 2>&1 || true
    if [ -n "$STARTED_DOCKERD" ]; then
        kill "$STARTED_DOCKERD" 2> /dev/null || true
        wait "$STARTED_DOCKERD" 2> /dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

if ! docker info > /dev/null 2>&1; then
    dockerd > "$TMP/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 60); do docker info > /dev/null 2>&1 && break; sleep 0.5; done
    docker info > /dev/null 2>&1 || { tail -5 "$TMP/dockerd.log"; skip "dockerd does not start here"; }
fi

# The base image, made locally, tagged as the Dockerfile's FROM.
if ! docker image inspect debian:bookworm-slim > /dev/null 2>&1; then
    t0=$SECONDS
    debootstrap --variant=minbase bookworm "$TMP/rootfs" http://deb.debian.org/debian \
        > "$TMP/debootstrap.log" 2>&1 || { tail -20 "$TMP/debootstrap.log"; fail "debootstrap"; }
    # Like Debian's own slim image: no package cache, no package lists.
    rm -rf "$TMP"/rootfs/var/cache/apt/archives/*.deb "$TMP"/rootfs/var/lib/apt/lists/*
    tar -C "$TMP/rootfs" -c . | docker import - debian:bookworm-slim > /dev/null
    rm -rf "$TMP/rootfs"
    echo "base image built in $((SECONDS - t0)) s"
fi

cd "$REPO"
t0=$SECONDS
docker build -q -f deploy/Dockerfile -t shears:latest . > "$TMP/build.log" 2>&1 \
    || { tail -30 "$TMP/build.log"; fail "docker build"; }
echo "image built in $((SECONDS - t0)) s: $(docker image inspect shears:latest --format '{{.Size}}') bytes"
docker run --rm shears:latest id | grep "uid=10001(shears)" > /dev/null || fail "image runs as non-root"
docker run --rm --network none shears:latest shears run --print-sweep > /dev/null \
    || fail "no network needed at run time"

DC="docker-compose -p $PROJECT -f deploy/compose.yaml"
$DC up -d --scale worker=2 broker worker > "$TMP/up.log" 2>&1 || { cat "$TMP/up.log"; fail "compose up"; }
for _ in $(seq 60); do
    [ "$($DC logs broker 2>&1 | grep -c 'joined')" -ge 2 ] && break
    sleep 1
done
[ "$($DC logs broker 2>&1 | grep -c 'joined')" -ge 2 ] || { $DC logs; fail "2 workers joined"; }
# The client runs as the image's unprivileged user (SHEARS_USER unset) and
# writes into a directory that user owns, given by SHEARS_OUT.
mkdir "$TMP/out" && chown 10001 "$TMP/out"
SHEARS_OUT="$TMP/out" $DC run --rm \
    -e SHEARS_SETS="--set train.epochs=1 --set prune.rounds=2 --set train.schedule.milestones=[1]" \
    client > "$TMP/client.log" 2>&1 || { cat "$TMP/client.log"; $DC logs; fail "client"; }
cat "$TMP/client.log"
metrics=$(ls "$TMP"/out/sweep-*/metrics.csv)
rows=$(tail -n +2 "$metrics" | wc -l)
[ "$rows" -eq 5 ] || fail "expected 5 result rows, got $rows"
awk -F, 'NR > 1 && $8 < 0.7 { exit 1 }' "$metrics" || fail "accuracies in the fetched metrics"
ls "$TMP"/out/sweep-*/jobs/*/model.shm > /dev/null || fail "compressed models fetched"
[ "$(docker inspect --format '{{.State.Health.Status}}' "$($DC ps -q broker)")" != unhealthy ] \
    || fail "broker healthcheck"
# Not grep -q: docker-compose dies of EPIPE when grep stops reading early.
$DC logs worker > "$TMP/workers.log" 2>&1
grep -q "job .* done" "$TMP/workers.log" || fail "workers ran jobs"
$DC down -v > /dev/null 2>&1
echo "docker_compose: ok"
