#!/bin/bash
# s3_server.sh - a throwaway single-node Ceph cluster with radosgw, for tests
# that need a real S3 server.
#
#   s3_server.sh start DIR PORT   bootstrap everything under DIR; radosgw
#                                 serves S3 on http://127.0.0.1:PORT; prints
#                                 "ACCESS_KEY SECRET_KEY" (also in DIR/keys)
#   s3_server.sh stop DIR         stop every daemon started under DIR
#
# Needs the Debian packages ceph-mon, ceph-osd, radosgw and ceph-common
# (scripts/install-deps; ceph-mgr is not needed). No systemd, no block
# device, no /etc/ceph, no root: the daemons run as the calling user with pid
# files in DIR/run, config in DIR/ceph.conf, logs in DIR/log. The layout:
#   - one monitor (mon.a) on a free loopback port, cephx disabled;
#   - no manager: pools, PG creation and peering are driven by the monitor
#     and the OSD, and the manager's Python modules cost ~200 MB and seconds;
#   - one OSD on memstore (objects in RAM, capped by memstore_device_bytes);
#   - radosgw (beast) on 127.0.0.1:PORT with one S3 user.
# Every wait is bounded; on failure the last lines of the relevant log are
# printed and the script exits non-zero (exit 2 for a missing package).
set -euo pipefail

STARTING=0
die() {
    echo "s3_server: $*" >&2
    [ "$STARTING" = 1 ] && stop
    exit 1
}

# Seconds allowed for each stage to come up.
MON_WAIT=30 OSD_WAIT=60 RGW_WAIT=60

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        port_open "$p" || { echo "$p"; return; }
    done
    die "no free port"
}

# Prints the tail of a daemon's log (and its stdout/stderr) and fails.
daemon_fail() {
    local name=$1; shift
    echo "s3_server: $*" >&2
    for f in "$DIR/log/$name.log" "$DIR/log/$name.out"; do
        [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; }
    done
    stop
    exit 1
}

# Starts a daemon in the background, detached from our stdio (ctest waits for
# its pipes to close), and records its pid in DIR/run/NAME.pid.
spawn() {
    local name=$1; shift
    setsid "$@" </dev/null >"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/run/$name.pid"
    disown $!
}

alive() { local p; p=$(cat "$DIR/run/$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }

# The ceph CLI with our config and a bounded wait.
cephc() { timeout 30 ceph -c "$DIR/ceph.conf" --connect-timeout 20 "$@"; }

start() {
    for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
        command -v "$b" >/dev/null || { echo "s3_server: $b not installed" >&2; exit 2; }
    done
    [ -e "$DIR/ceph.conf" ] && die "$DIR already holds a cluster (stop it and use a fresh DIR)"
    port_open "$PORT" && die "port $PORT is already in use"
    mkdir -p "$DIR"/{log,run,mon-a,osd-0}
    STARTING=1 # from here on, a failure stops whatever was started
    local t0=$SECONDS fsid mon_port osd_uuid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    mon_port=$(free_port)
    [ "$mon_port" != "$PORT" ] || mon_port=$(free_port)

    # 1. Configuration. Size-1 pools on one OSD (chooseleaf type 0 lets CRUSH
    #    place replicas on the OSD itself rather than across hosts); 8 PGs per
    #    pool with the autoscaler off, so radosgw's 7 pools stay well under
    #    mon_max_pg_per_osd; small thread pools and caches.
    cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind port min = 10000
ms bind port max = 60000
auth cluster required = none
auth service required = none
auth client required = none
# With auth none there are no session keys to encrypt with, so every
# connection must use crc mode; left at defaults, radosgw insists on "secure"
# towards the monitor and retries forever ("get_initial_auth_request
# returned -13").
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
# Commit monitor changes every 0.1 s instead of 1 s: radosgw's first start
# creates 4+ pools one after another, each a map change.
paxos propose interval = 0.1

[mon]
mon data = $DIR/mon-\$id

[osd]
osd data = $DIR/osd-\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 32
rgw data = $DIR/rgw-a
rgw enable usage log = false
EOF

    # 2. Monitor: a monmap naming mon.a, its store (ceph-mon --mkfs), start.
    #    With cephx off no keyring is needed.
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" \
        >/dev/null
    ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" \
        >"$DIR/log/mon.a.out" 2>&1 || daemon_fail mon.a "ceph-mon --mkfs failed"
    spawn mon.a ceph-mon -c "$DIR/ceph.conf" -f -i a
    local i
    for ((i = 0; ; i++)); do
        alive mon.a || daemon_fail mon.a "ceph-mon exited"
        cephc mon stat >/dev/null 2>&1 && break
        ((i < MON_WAIT)) || daemon_fail mon.a "monitor not answering after ${MON_WAIT}s"
        sleep 1
    done
    echo "s3_server: monitor up after $((SECONDS - t0))s" >&2

    # 3. OSD: allocate id 0 in the OSD map, create its memstore, start it.
    #    It adds itself to the CRUSH map on boot (osd_crush_update_on_start).
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    [ "$(cephc osd new "$osd_uuid" 0 2>"$DIR/log/osd-new.out")" = 0 ] \
        || daemon_fail osd-new "ceph osd new failed"
    ceph-osd -c "$DIR/ceph.conf" --mkfs -i 0 --osd-uuid "$osd_uuid" \
        >"$DIR/log/osd.0.out" 2>&1 || daemon_fail osd.0 "ceph-osd --mkfs failed"
    spawn osd.0 ceph-osd -c "$DIR/ceph.conf" -f -i 0
    for ((i = 0; ; i++)); do
        alive osd.0 || daemon_fail osd.0 "ceph-osd exited"
        cephc osd dump 2>/dev/null | grep -q '^osd\.0 up' && break
        ((i < OSD_WAIT)) || daemon_fail osd.0 "osd.0 not up after ${OSD_WAIT}s"
        sleep 1
    done
    echo "s3_server: osd.0 up after $((SECONDS - t0))s" >&2

    # 4. radosgw: on first start it creates the default realm/zone and its
    #    pools (.rgw.root, default.rgw.*), then listens on PORT. An anonymous
    #    GET / answering HTTP means it is serving.
    mkdir -p "$DIR/rgw-a"
    spawn rgw.a radosgw -c "$DIR/ceph.conf" -f -n client.rgw.a
    for ((i = 0; ; i++)); do
        alive rgw.a || daemon_fail client.rgw.a "radosgw exited"
        if port_open "$PORT"; then
            local reply
            reply=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT" &&
                printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
                timeout 5 head -c 12 <&3) || true
            [[ $reply == HTTP/1.?\ [0-9]* ]] && break
        fi
        ((i < RGW_WAIT)) || daemon_fail client.rgw.a "radosgw not serving after ${RGW_WAIT}s"
        sleep 1
    done

    # 5. An S3 user with keys we choose (hex, so no quoting issues).
    #    radosgw-admin reads radosgw's section but must not take its admin
    #    socket.
    local access secret
    access=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
    secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
    timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.rgw.a --admin-socket= user create \
        --uid=shears --display-name=shears --access-key="$access" --secret-key="$secret" \
        >"$DIR/log/user-create.out" 2>&1 || daemon_fail user-create "radosgw-admin user create failed"
    echo "$access $secret" >"$DIR/keys"
    echo "s3_server: radosgw on http://127.0.0.1:$PORT after $((SECONDS - t0))s" >&2
    echo "$access $secret"
}

# 1 if pid is one of our daemons (its command line names DIR/ceph.conf), so
# a stale pid file never leads to killing an unrelated process.
ours() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "-c $DIR/ceph.conf "; }

# 1 if pid has exited (a zombie counts: it holds no port, memory or file).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

stop() {
    # SIGKILL: the cluster is disposable (memstore keeps nothing worth
    # saving) and a graceful stop costs ~7 s, the OSD waiting for the
    # monitor to acknowledge its shutdown. Waits up to 10 s for the kernel to
    # tear the processes down, then removes the pid files.
    local name pid pids=() i
    for name in rgw.a osd.0 mon.a; do
        pid=$(cat "$DIR/run/$name.pid" 2>/dev/null) || continue
        if ours "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 100; i++)); do
            gone "$pid" && break
            sleep 0.1
        done
        gone "$pid" || echo "s3_server: pid $pid still there 10 s after SIGKILL" >&2
    done
    rm -f "$DIR"/run/*.pid "$DIR"/run/*.asok
}

cmd=${1:-} DIR=${2:-}
case $cmd in
start)
    [ $# -eq 3 ] || die "usage: $0 start DIR PORT"
    PORT=$3
    [[ $PORT =~ ^[0-9]+$ ]] || die "bad port '$PORT'"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    start
    ;;
stop)
    [ $# -eq 2 ] || die "usage: $0 stop DIR"
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    stop
    ;;
*) die "usage: $0 start DIR PORT | stop DIR" ;;
esac
