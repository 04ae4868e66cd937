#!/bin/bash
# run_sweep.sh SHEARS - `shears run` end to end on real Fashion-MNIST:
# outputs, every technique, validation split, reuse on rerun, determinism
# across runs, stopping rule, bad input, interruption and resumption.
source "$(dirname "$0")/lib.sh"
SHEARS=$1

cat > "$TMP/small.yaml" <<YAML
name: small
dataset: {name: fashion-mnist, path: $FMNIST, validation: 5000}
model: lenet_300_100
seeds: [3]
train: {epochs: 2, batch: 128, lr: 0.1, schedule: {milestones: [1], gamma: 0.1}}
prune: {rate: 0.5, rounds: 2}
retrain:
  - lr-rewind
  - {technique: weight-rewind, rewind_epoch: 1}
  - {technique: finetune, lr: 0.001, epochs: 1}
  - reinit
  - random-prune
YAML

out=$TMP/a
"$SHEARS" run "$TMP/small.yaml" -o "$out" -j 2 -t 2 > "$TMP/a.txt" 2> "$TMP/a.err" \
    || { cat "$TMP/a.err"; fail "shears run failed"; }
cat "$TMP/a.txt"
for f in metrics.csv metrics.jsonl sweep.yaml; do
    check "$f written" test -s "$out/$f"
done
check "11 rows" test "$(tail -n +2 "$out/metrics.csv" | wc -l)" -eq 11
head -1 "$out/metrics.csv" | grep -q '^job,kind,technique,seed,round,density,target_density,test_accuracy,test_loss,val_accuracy,train_loss,epochs,seconds,model_bytes,compression,model_accuracy$' \
    || fail "csv header"
grep -q '"val_accuracy":0\.' "$out/metrics.jsonl" || fail "validation accuracy reported"
# Each job has its checkpoint, the epoch-1 rewind point included.
check "one job dir per job" test "$(ls "$out/jobs" | wc -l)" -eq 12
check "a checkpoint per job" test "$(ls "$out"/jobs/*/final.ckpt | wc -l)" -eq 12
# Densities hit their targets; accuracy is sane for every technique.
awk -F, 'NR > 1 {
    if ($6 + 0 != $7 + 0) { print "density " $6 " != target " $7; exit 1 }
    if ($8 < 0.70) { print $3 " round " $5 " accuracy " $8; exit 1 } }' "$out/metrics.csv" \
    || fail "densities or accuracies"
grep -q 'dense test accuracy' "$TMP/a.txt" || fail "table printed"

# Rerun into the same directory: every job reused.
"$SHEARS" run "$TMP/small.yaml" -o "$out" -j 2 -t 2 > "$TMP/b.txt" 2>&1 || fail "rerun"
grep -q '11 jobs done (11 reused)' "$TMP/b.txt" || { cat "$TMP/b.txt"; fail "rerun reuses"; }

# Same sweep, fresh directory: bit-identical metrics (seconds aside).
"$SHEARS" run "$TMP/small.yaml" -o "$TMP/c" -j 2 -t 2 > /dev/null 2>&1 || fail "second run"
diff <(stable_metrics "$out/metrics.csv") <(stable_metrics "$TMP/c/metrics.csv") \
    || fail "runs differ"

# Stopping rule: a brutal one-shot prune falls far below dense; later rounds
# are skipped.
"$SHEARS" run "$TMP/small.yaml" -o "$TMP/d" --set 'prune={densities: [0.002, 0.001]}' \
    --set 'retrain=[{technique: finetune, lr: 0.0001, epochs: 1}]' --set stop.max_drop=0.05 \
    > "$TMP/d.txt" 2>&1 || { cat "$TMP/d.txt"; fail "stop-rule run"; }
grep -q '1 skipped by the stopping rule' "$TMP/d.txt" || { cat "$TMP/d.txt"; fail "stop rule"; }

# Bad input: exit status 2 and a message naming file, line and key.
printf 'dataset: fashion-mnist\nmodel: lenet_300_100\ntrain: {epochs: lots}\n' > "$TMP/bad.yaml"
set +e
"$SHEARS" run "$TMP/bad.yaml" -o "$TMP/e" 2> "$TMP/e.err"
rc=$?
set -e
check "exit 2 on a bad sweep" test $rc -eq 2
grep -q "bad.yaml:3: 'train.epochs'" "$TMP/e.err" || { cat "$TMP/e.err"; fail "error message"; }
"$SHEARS" run "$TMP/small.yaml" --set train.nope=1 2> "$TMP/f.err" && fail "unknown --set key accepted"
grep -q "unknown key 'train.nope'" "$TMP/f.err" || fail "--set error"

# Interrupt mid-run, then resume: the finished jobs are kept and reused.
RESUME_SETS=(--set train.epochs=3 --set 'train.schedule.milestones=[2]' --set 'retrain=[lr-rewind]'
             --set prune.rounds=3)
"$SHEARS" run "$TMP/small.yaml" -o "$TMP/g" -j 1 "${RESUME_SETS[@]}" > "$TMP/g.txt" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -s "$TMP/g/metrics.csv" ] && [ "$(tail -n +2 "$TMP/g/metrics.csv" | wc -l)" -ge 1 ] && break
    sleep 0.2
done
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
check "exit 130 when interrupted (got $rc)" test $rc -eq 130
"$SHEARS" run "$TMP/small.yaml" -o "$TMP/g" -j 2 "${RESUME_SETS[@]}" > "$TMP/h.txt" 2>&1 || fail "resume"
grep -Eq '4 jobs done \([1-9][0-9]* reused\)' "$TMP/h.txt" || { cat "$TMP/h.txt"; fail "resume reuses"; }
echo "run_sweep: ok"
