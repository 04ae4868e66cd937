#!/bin/bash
# dataset_fetch.sh SHEARS - datasets by URL: a real HTTP server on
# 127.0.0.1 serving Fashion-MNIST, fetched by the worker through libcurl,
# verified against dataset.sha256 and cached; clear errors for a 404, a
# checksum mismatch, a server that stalls, and a file:// URL that works.
source "$(dirname "$0")/lib.sh"
SHEARS=$1
command -v python3 > /dev/null || { echo "SKIP: python3 is needed for the HTTP server"; exit 0; }
port=$((20000 + RANDOM % 40000))
mkdir -p "$TMP/www/fmnist"
cp "$FMNIST"/*.gz "$TMP/www/fmnist/"
(cd "$TMP/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 > "$TMP/http.log" 2>&1) &
PIDS+=($!)
# A server that accepts connections and never answers.
stall_port=$((port + 1))
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $stall_port)); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
" &
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

sha=$("$SHEARS" dataset-hash fashion-mnist "$FMNIST")
check "dataset-hash prints a sha256" test "${#sha}" -eq 64
sweep() { # url sha
    cat <<YAML
dataset: {name: fashion-mnist, url: "$1", sha256: $2}
model: lenet_300_100
train: {epochs: 1, lr: 0.1}
prune: {rate: 0.5, rounds: 1}
YAML
}
export SHEARS_FETCH_TIMEOUT=3

sweep "http://127.0.0.1:$port/fmnist" "$sha" > "$TMP/ok.yaml"
"$SHEARS" run "$TMP/ok.yaml" -o "$TMP/ok" -q > "$TMP/ok.txt" 2>&1 || { cat "$TMP/ok.txt"; fail "fetch over http"; }
check "2 rows" test "$(tail -n +2 "$TMP/ok/metrics.csv" | wc -l)" -eq 2
check "dataset cached under its hash" test -d "$TMP/ok/.shears/datasets/$sha"
check "downloaded once" test "$(grep -c 'GET /fmnist/train-images' "$TMP/http.log")" -eq 1
awk -F, 'NR > 1 && $8 < 0.7 { exit 1 }' "$TMP/ok/metrics.csv" || fail "trained on the download"

# 404: the path does not exist.
sweep "http://127.0.0.1:$port/nothing-here" "$sha" > "$TMP/404.yaml"
set +e
"$SHEARS" run "$TMP/404.yaml" -o "$TMP/404" > "$TMP/404.txt" 2>&1; rc=$?
set -e
check "exit 1 when jobs fail" test $rc -eq 1
grep -q "HTTP 404" "$TMP/404.txt" || { cat "$TMP/404.txt"; fail "404 named"; }
grep -q "0 jobs done (0 reused), 0 skipped by the stopping rule, 1 failed, 1 blocked" "$TMP/404.txt" \
    || { cat "$TMP/404.txt"; fail "the failed dense run blocks its round"; }

# Checksum mismatch.
bad=$(printf '%064d' 0)
sweep "http://127.0.0.1:$port/fmnist" "$bad" > "$TMP/sum.yaml"
set +e
"$SHEARS" run "$TMP/sum.yaml" -o "$TMP/sum" > "$TMP/sum.txt" 2>&1
set -e
grep -q "fails its checksum" "$TMP/sum.txt" || { cat "$TMP/sum.txt"; fail "checksum mismatch named"; }
check "nothing half-downloaded is kept" test ! -e "$TMP/sum/.shears/datasets/$bad"

# A server that stalls.
sweep "http://127.0.0.1:$stall_port/fmnist" "$sha" > "$TMP/stall.yaml"
set +e
timeout 120 "$SHEARS" run "$TMP/stall.yaml" -o "$TMP/stall" > "$TMP/stall.txt" 2>&1; rc=$?
set -e
check "stalled server: jobs fail, run ends (rc $rc)" test $rc -eq 1
grep -qi "timed out" "$TMP/stall.txt" || { cat "$TMP/stall.txt"; fail "timeout named"; }

# file:// URLs work too.
sweep "file://$TMP/www/fmnist" "$sha" > "$TMP/file.yaml"
"$SHEARS" run "$TMP/file.yaml" -o "$TMP/file" -q > /dev/null 2>&1 || fail "file:// URL"
echo "dataset_fetch: ok"
