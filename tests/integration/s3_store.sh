#!/bin/bash
# s3_store.sh S3_CHECK - the S3 client (proto/sh_s3) against a real S3
# server: starts a single-node Ceph cluster with radosgw on a free loopback
# port (s3_server.sh), runs S3_CHECK (s3_check.c) against it, and stops the
# cluster on exit whatever happened.
#
# Prints "SKIP: ..." and exits 0 if the Ceph packages are not installed, or
# if the server cannot start and we are not root. As root with the packages
# (CI: scripts/install-deps installs them), a server that does not start is
# a failure.
source "$(dirname "$0")/lib.sh"
CHECK=$1
HERE=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: integration.s3_store: $*"; exit 0; }

for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$b" >/dev/null ||
        skip "$b is not installed (scripts/install-deps installs radosgw ceph-mon ceph-osd ceph-common)"
done

cleanup() {
    bash "$HERE/s3_server.sh" stop "$TMP/ceph" || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(free_port)

t0=$SECONDS
if ! keys=$(bash "$HERE/s3_server.sh" start "$TMP/ceph" "$PORT" 2>"$TMP/start.err"); then
    cat "$TMP/start.err" >&2
    [ "$(id -u)" -eq 0 ] || skip "the Ceph test server did not start without root (see above)"
    fail "s3_server.sh start failed"
fi
cat "$TMP/start.err" >&2
read -r ACCESS SECRET <<<"$keys"
[ -n "$SECRET" ] || fail "s3_server.sh printed no keys: '$keys'"
echo "radosgw up on 127.0.0.1:$PORT in $((SECONDS - t0))s"

"$CHECK" "http://127.0.0.1:$PORT" "$ACCESS" "$SECRET" || fail "s3_check failed"
