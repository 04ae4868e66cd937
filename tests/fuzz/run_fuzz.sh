#!/bin/bash
# run_fuzz.sh - one bounded libFuzzer run, as ctest's fuzz.<name> tests do it.
#
#   run_fuzz.sh FUZZER SEED_DIR ARTIFACT_DIR SECONDS [libFuzzer flags...]
#
# The seeds are copied to a temporary corpus, so the run never adds files to
# the repository. A crash, leak, timeout or sanitizer report fails the run;
# the reproducing input is left in ARTIFACT_DIR (crash-*, leak-*, timeout-*,
# oom-*). Replay it with: FUZZER ARTIFACT_DIR/crash-<sha1>
set -eu
fuzzer=$1 seeds=$2 artifacts=$3 seconds=$4
shift 4
work=$(mktemp -d "${TMPDIR:-/tmp}/shears-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
if [ -d "$seeds" ]; then
  find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
fi
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
  echo "run_fuzz.sh: $(basename "$fuzzer") failed (exit $status); inputs in $artifacts" >&2
fi
exit "$status"
