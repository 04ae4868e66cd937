#!/bin/bash
# shm_python.sh SHEARS - compressed models outside shears: the prune jobs of
# a real sweep write model.shm; tools/shears_model.py (numpy only) reads
# each one, checks its payload hash, and a numpy forward pass of
# LeNet-300-100 over the Fashion-MNIST test set must reproduce the accuracy
# shears measured for the same file. Also `shears inspect`, `compress` and
# `infer` on those files.
source "$(dirname "$0")/lib.sh"
SHEARS=$1
TOOLS=$(cd "$(dirname "$0")/../../tools" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c "import numpy" 2> /dev/null || { echo "SKIP: python3 with numpy is needed"; exit 0; }

"$SHEARS" run -o "$TMP/run" -q --set train.epochs=2 --set 'train.schedule.milestones=[1]' \
    --set prune.rate=0.7 --set prune.rounds=2 --set 'retrain=[lr-rewind]' > /dev/null \
    || fail "shears run"
check "two compressed models" test "$(ls "$TMP"/run/jobs/*/model.shm | wc -l)" -eq 2

cat > "$TMP/check.py" <<'PY'
import csv, gzip, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import shears_model
run, data = sys.argv[2], sys.argv[3]
with gzip.open(f"{data}/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
with gzip.open(f"{data}/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
rows = [r for r in csv.DictReader(open(f"{run}/metrics.csv")) if r["kind"] == "prune"]
assert len(rows) == 2, rows
for r in rows:
    m = shears_model.load(f"{run}/jobs/{r['job']}/model.shm")
    assert m.arch == "lenet_300_100" and m.input == (1, 28, 28) and m.classes == 10
    assert m.job == r["job"], (m.job, r["job"])
    t = m.tensors
    h = (x - m.mean[0]) / m.std[0]
    h = np.maximum(h @ t["fc1.weight"].T + t["fc1.bias"], 0)
    h = np.maximum(h @ t["fc2.weight"].T + t["fc2.bias"], 0)
    acc = float(np.mean(np.argmax(h @ t["fc3.weight"].T + t["fc3.bias"], axis=1) == y))
    want = float(r["model_accuracy"])
    alive = sum(int(m.masks[k].sum()) for k in t if k.endswith("weight"))
    print(f"round {r['round']}: numpy {acc:.4f}, shears {want:.4f}, {alive} weights alive, "
          f"{r['model_bytes']} bytes")
    assert abs(acc - want) <= 5e-4, (acc, want)
    assert abs(alive / 266200 - float(r["density"])) < 0.002
PY
"$PY" "$TMP/check.py" "$TOOLS" "$TMP/run" "$FMNIST" || fail "numpy reader disagrees with shears"

model=$(ls "$TMP"/run/jobs/*/model.shm | head -1)
"$SHEARS" inspect "$model" > "$TMP/inspect.txt" || fail "inspect"
grep -q "payload sha256 .*: OK" "$TMP/inspect.txt" || fail "inspect verifies the checksum"
grep -q "fc1.weight" "$TMP/inspect.txt" || fail "inspect lists tensors"
"$SHEARS" infer "$model" --data "$FMNIST" --batch 64 --export "$TMP/pred.csv" > "$TMP/infer.txt" \
    || fail "infer"
check "one prediction per test image" test "$(tail -n +2 "$TMP/pred.csv" | wc -l)" -eq 10000
# Recompress the same checkpoint with every precision: lower is smaller.
ckpt=$(dirname "$model")/final.ckpt
for v in fp32 fp16 int8; do
    "$SHEARS" compress "$ckpt" -o "$TMP/$v.shm" --values "$v" > /dev/null || fail "compress $v"
done
s32=$(stat -c %s "$TMP/fp32.shm") s16=$(stat -c %s "$TMP/fp16.shm") s8=$(stat -c %s "$TMP/int8.shm")
check "int8 < fp16 < fp32" test "$s8" -lt "$s16" -a "$s16" -lt "$s32"
# The same weights give the same payload as the job's own model.shm.
"$SHEARS" inspect "$TMP/int8.shm" | grep "payload sha256" > "$TMP/a.sha"
grep "payload sha256" "$TMP/inspect.txt" > "$TMP/b.sha"
cmp -s "$TMP/a.sha" "$TMP/b.sha" || fail "compress reproduces the job's model payload"
# A damaged file is refused with a clear message.
cp "$model" "$TMP/bad.shm"
printf '\x00\x00\x00\x00' | dd of="$TMP/bad.shm" bs=1 seek=$(( s8 / 2 )) conv=notrunc 2> /dev/null
"$SHEARS" inspect "$TMP/bad.shm" 2> "$TMP/bad.txt" && fail "damaged model accepted"
grep -Eq "checksum|wrong size|outside|ends early|malformed|inflate" "$TMP/bad.txt" || { cat "$TMP/bad.txt"; fail "damage named"; }
echo "shm_python: ok"
