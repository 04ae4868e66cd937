#!/bin/bash
# run_scaling.sh BUILD_DIR - the same LeNet-300-100 sweep (two seeds, one
# chain of rounds each) on 1 worker x 1 thread and on 2 workers x 1 thread;
# prints both makespans and their ratio.
set -euo pipefail
BUILD=${1:?usage: run_scaling.sh BUILD_DIR}
SHEARS=$BUILD/client/shears
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SETS=(--set 'seeds=[1, 2]' --set train.epochs=3 --set 'train.schedule.milestones=[2]'
      --set prune.rounds=3 --set 'retrain=[lr-rewind]' -q)
t0=$(date +%s.%N)
"$SHEARS" run "${SETS[@]}" -o "$TMP/one" -j 1 -t 1 > /dev/null
t1=$(date +%s.%N)
"$SHEARS" run "${SETS[@]}" -o "$TMP/two" -j 2 -t 2 > /dev/null
t2=$(date +%s.%N)
one=$(echo "$t1 - $t0" | bc) two=$(echo "$t2 - $t1" | bc)
echo "1 worker x 1 thread: ${one} s; 2 workers x 1 thread: ${two} s; ratio $(echo "scale=3; $two / $one" | bc)"
diff <(cut -d, -f1-12,14- "$TMP/one/metrics.csv") <(cut -d, -f1-12,14- "$TMP/two/metrics.csv") > /dev/null \
    && echo "metrics identical" || echo "metrics differ"
