# lib.sh - helpers for the integration tests (sourced).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; }
# Field N (1-based) of every CSV line but the header, joined.
csv_col() { tail -n +2 "$1" | cut -d, -f"$2"; }
# metrics.csv without the seconds column: the deterministic part.
stable_metrics() { cut -d, -f1-12,14- "$1"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shears-it.XXXXXX")
PIDS=() # daemons a test starts: killed at exit (a test may redefine cleanup)
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
# Waits (up to 10 s) for a daemon's log to say it is listening.
wait_listening() {
    for _ in $(seq 100); do grep -q listening "$1" && return 0; sleep 0.1; done
    cat "$1"; fail "$(basename "$1" .log) did not start"
}
FMNIST=${SHEARS_FMNIST:-/usr/share/datasets/fashion-mnist}
# In the ASan build: third-party leaks that are not ours (tests/lsan.supp).
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    fail "no free port"
}
# SIGTERM to a daemon and its exit status must be 0: a clean stop, and in
# the ASan build (SHEARS_SANITIZE) LeakSanitizer's verdict on the process.
stop_clean() { # PID NAME
    kill -TERM "$1" 2> /dev/null || fail "$2 is not running"
    local rc=0
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || fail "$2 exited with status $rc after SIGTERM (a leak report, under ASan)"
}
