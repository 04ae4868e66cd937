#!/bin/bash
# cifar_resnet.sh SHEARS - the CIFAR-10 path end to end on a small synthetic
# set in CIFAR's binary format: ResNet-20 with augmentation, a weight-rewind
# round to epoch 0 (the lottery ticket), and every example sweep parsing.
source "$(dirname "$0")/lib.sh"
SHEARS=$1
EXAMPLES=$(cd "$(dirname "$0")/../../examples" && pwd)

data=$TMP/cifar
mkdir -p "$data"
# Records of 1 label byte + 3072 pixel bytes; the label is the brightness
# class of the image, so the data is learnable.
make_batch() {
    local file=$1 n=$2 i label
    : > "$file"
    for ((i = 0; i < n; i++)); do
        label=$((i % 10))
        printf "\\x$(printf %02x $label)" >> "$file"
        head -c 3072 /dev/zero | tr '\0' "\\$(printf %03o $((label * 20 + 30)))" >> "$file"
    done
}
for b in 1 2 3 4 5; do make_batch "$data/data_batch_$b.bin" 40; done
make_batch "$data/test_batch.bin" 50

cat > "$TMP/cifar.yaml" <<YAML
dataset: {name: cifar10, path: $data}
model: resnet20
train: {epochs: 4, batch: 20, lr: 0.05, augment: true, schedule: {milestones: [3]}}
prune: {rate: 0.5, rounds: 1}
retrain: [{technique: weight-rewind, rewind_epoch: 0}, lr-rewind]
YAML
"$SHEARS" run "$TMP/cifar.yaml" -o "$TMP/out" > "$TMP/out.txt" 2>&1 || { cat "$TMP/out.txt"; fail "cifar run"; }
check "3 rows" test "$(tail -n +2 "$TMP/out/metrics.csv" | wc -l)" -eq 3
check "four jobs: dense, rewind point, two rounds" test "$(ls "$TMP"/out/jobs | wc -l)" -eq 4
# Chance is 10%: the best model must be well above it.
awk -F, 'NR > 1 && $8 > best { best = $8 } END { if (best < 0.4) { print "best " best; exit 1 } }' \
    "$TMP/out/metrics.csv" || fail "resnet20 learns the synthetic classes"

for f in "$EXAMPLES"/*.yaml; do
    "$SHEARS" run "$f" --print-sweep > /dev/null || fail "example $f does not parse"
done
echo "cifar_resnet: ok"
