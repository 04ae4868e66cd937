#!/bin/bash
# status_page.sh SHEARS BROKER WORKER - the broker's status page and JSON
# API (--http) with a real worker and a small real sweep: the API answers
# with the broker's data, is read-only, binds loopback by default, and with
# CURVE on refuses to start without a token and then demands it. Headless
# Chromium opens the live page; its rendered DOM must show the worker, the
# sweep and the sweep's curve, and its screenshot must not be blank.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3
cd "$TMP"
EP=tcp://127.0.0.1:$(free_port)
HTTP=$(free_port)
export SHEARS_BROKER=$EP
"$BROKER" --bind "$EP" --state state --http "$HTTP" > broker.log 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_listening broker.log
grep -q "status page on http://127.0.0.1:$HTTP/" broker.log || { cat broker.log; fail "page on loopback"; }
"$WORKER" --broker "$EP" --threads 1 --cache cache --name w1 > w1.log 2>&1 &
PIDS+=("$!")
"$SHEARS" run --print-sweep > sweep.yaml
"$SHEARS" submit sweep.yaml --set train.epochs=1 --set 'train.schedule.milestones=[1]' \
    --set prune.rounds=2 --set 'retrain=[lr-rewind]' --watch > submit.out 2> submit.err \
    || { cat submit.err; fail "submit"; }
id=$(head -1 submit.out)

python3 - "$HTTP" "$id" <<'PY' || fail "the JSON API"
import json, sys, urllib.error, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
sid = int(sys.argv[2])
def get(path, method="GET"):
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
code, hdr, body = get("/api/status")
assert code == 200 and hdr["Content-Type"] == "application/json", (code, hdr)
st = json.loads(body)
assert st["workers"] == 1, st
assert [s for s in st["sweeps"] if s["id"] == sid and s["done"] == 3], st
code, _, body = get("/api/workers")
assert [w for w in json.loads(body)["workers"] if w["name"] == "w1" and w["state"] == "alive"]
code, _, body = get("/api/sweeps/%d" % sid)
res = json.loads(body)
done = [r for r in res["rows"] if r[6] == "done"]
assert len(done) == 3, res["rows"]
for r in done:
    acc = json.loads(r[7])["test_accuracy"]
    assert 0.5 < acc <= 1, acc
code, hdr, body = get("/")
assert code == 200 and b"shears broker" in body and hdr["X-Content-Type-Options"] == "nosniff"
assert get("/api/sweeps/999")[0] == 404
assert get("/api/sweeps/1x")[0] == 404
assert get("/nope")[0] == 404
assert get("/api/status", "POST")[0] == 405
assert get("/api/status", "DELETE")[0] == 405
print("api: status, workers, sweep results, page; 404 and 405 where due")
PY

# Opened in a browser: the script fills the page from the API.
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    B=("$CHROME" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$TMP/chrome"
       --virtual-time-budget=5000)
    timeout 120 "${B[@]}" --dump-dom "http://127.0.0.1:$HTTP/" > dom.html 2> chrome.log \
        || { tail chrome.log; fail "chromium opens the page"; }
    timeout 120 "${B[@]}" --window-size=1200,1200 --screenshot="$TMP/shot.png" \
        "http://127.0.0.1:$HTTP/" >> chrome.log 2>&1 || { tail chrome.log; fail "screenshot"; }
    python3 - "$id" <<'PY' || { cat dom.html | head -c 3000; fail "what the browser shows"; }
import re, sys
dom = open("dom.html").read()
assert re.search(r'id="n-workers">1<', dom), "workers alive"
assert "<td>w1</td>" in dom, "worker row"
assert 'id="sweep-%s"' % sys.argv[1] in dom, "sweep section"
assert re.search(r'<polyline[^>]*class="technique"', dom), "the sweep's curve"
assert "lr-rewind" in dom and "dense " in dom
assert 'class="error"></p>' in dom, "no error shown"
PY
    python3 "$HERE/png_check.py" shot.png 1200 1200 || fail "the screenshot"
    echo "browser: the page shows the worker, the sweep and its curve"
else
    echo "status_page: chromium not installed; browser checks skipped"
fi
stop_clean "$BPID" broker

# With CURVE: no page without a token, and the token is demanded.
"$SHEARS" keygen broker > /dev/null
mkdir -p allow/clients
rc=0; "$BROKER" --bind "$EP" --state state2 --curve-secret broker.key --allow allow \
    --http "$HTTP" 2> err.txt || rc=$?
check "CURVE + --http without a token refused" test $rc -ne 0
grep -q "status page needs a token" err.txt || { cat err.txt; fail "token message"; }
echo "short" > short.token
rc=0; "$BROKER" --bind "$EP" --state state2 --http "$HTTP" --http-token-file short.token \
    2> err.txt || rc=$?
check "a weak token refused" test $rc -eq 2
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
"$BROKER" --bind "$EP" --state state2 --curve-secret broker.key --allow allow \
    --http "127.0.0.1:$HTTP" --http-token-file token > broker2.log 2>&1 &
PIDS+=("$!")
wait_listening broker2.log
python3 - "$HTTP" "$(cat token)" <<'PY' || fail "token checks"
import sys, urllib.error, urllib.request
base, token = "http://127.0.0.1:%s" % sys.argv[1], sys.argv[2]
def code(path, headers={}):
    try:
        return urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
assert code("/api/status") == 401
assert code("/") == 401
assert code("/api/status?token=wrong") == 401
assert code("/api/status?token=" + token) == 200
assert code("/api/status", {"Authorization": "Bearer " + token}) == 200
assert code("/api/status", {"Authorization": "Bearer nope"}) == 401
PY
rc=0; "$BROKER" --bind "tcp://127.0.0.1:$(free_port)" --state state3 --http "localhost:x" \
    2> err.txt || rc=$?
check "bad --http refused" test $rc -ne 0
grep -q "expected HOST:PORT or PORT" err.txt || { cat err.txt; fail "--http message"; }
echo "status_page: ok"
