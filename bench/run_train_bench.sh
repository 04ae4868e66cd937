#!/bin/bash
# run_train_bench.sh BUILD_DIR [EPOCHS] - epoch time of shears vs PyTorch
# 1.13 on Fashion-MNIST, same work, same run, alternating so both see the
# same machine load; prints a markdown table of best epoch times and ratios,
# then the layer GFLOP/s tables. Needs python3-torch (Debian).
set -euo pipefail
BUILD=${1:?usage: run_train_bench.sh BUILD_DIR [EPOCHS]}
EPOCHS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=$BUILD/bench/bench_train
secs() { grep '^epoch_seconds' | awk '{print $2}'; }
echo "| model | threads | shears s/epoch | PyTorch s/epoch | shears / PyTorch |"
echo "|---|---|---|---|---|"
for model in lenet_300_100 lenet5 conv2; do
    for threads in 1 2; do
        e=$EPOCHS
        [ "$model" = conv2 ] && e=1
        # Two alternating rounds; the best of each side counts.
        s1=$("$BENCH" epoch $model $threads $e 2>/dev/null | secs)
        p1=$(/usr/bin/python3 "$HERE/torch_train.py" $model $threads $e 2>/dev/null | secs)
        s2=$("$BENCH" epoch $model $threads $e 2>/dev/null | secs)
        p2=$(/usr/bin/python3 "$HERE/torch_train.py" $model $threads $e 2>/dev/null | secs)
        s=$(echo "$s1 $s2" | awk '{print ($1 < $2) ? $1 : $2}')
        p=$(echo "$p1 $p2" | awk '{print ($1 < $2) ? $1 : $2}')
        echo "| $model | $threads | $s | $p | $(echo "$s $p" | awk '{printf "%.2f", $1 / $2}') |"
    done
done
echo
for threads in 1 2; do
    echo '```'
    "$BENCH" layers $threads
    echo '```'
done
