# lib.sh - helpers for the integration tests (sourced).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { local what=$1; shift; "$@" || fail "$what"; }
# Field N (1-based) of every CSV line but the header, joined.
csv_col() { tail -n +2 "$1" | cut -d, -f"$2"; }
# metrics.csv without the seconds column: the deterministic part.
stable_metrics() { cut -d, -f1-12,14- "$1"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shears-it.XXXXXX")
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
FMNIST=${SHEARS_FMNIST:-/usr/share/datasets/fashion-mnist}
