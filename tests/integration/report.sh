#!/bin/bash
# report.sh SHEARS BROKER WORKER - `shears plot` and `shears report` on a
# real results directory (a small two-seed sweep on Fashion-MNIST) and on a
# sweep id served by a broker: the files are valid PNG, SVG, PDF and HTML
# holding the sweep's values; the report needs no network; bad arguments
# get clear errors. With Chromium (headless) the report is opened, its
# rendered DOM checked for what a reader looks for, and a screenshot taken
# and checked to be a real picture.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
SHEARS=$1 BROKER=$2 WORKER=$3
cd "$TMP"
"$SHEARS" run --print-sweep > sweep.yaml
SETS=(--set 'seeds=[1, 2]' --set train.epochs=1 --set 'train.schedule.milestones=[1]'
      --set prune.rounds=3 --set 'retrain=[lr-rewind, finetune]')
"$SHEARS" run sweep.yaml "${SETS[@]}" -o res -j 2 -q > /dev/null || fail "the sweep"

for ext in png svg pdf; do
    "$SHEARS" plot res -o "plot.$ext" > /dev/null || fail "plot .$ext"
done
python3 - <<'PY' || fail "plot files"
import struct, xml.etree.ElementTree as ET
png = open("plot.png", "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (1400, 560), (w, h)
svg = ET.parse("plot.svg").getroot()
assert svg.tag.endswith("svg"), svg.tag
text = "".join(svg.itertext())
for want in ("lr-rewind", "finetune", "dense (", "fraction of weights remaining",
             "compressed model size"):
    assert want in text, want
assert open("plot.pdf", "rb").read(5) == b"%PDF-"
PY

# Bad arguments.
rc=0; "$SHEARS" plot res -o plot.txt 2> err.txt || rc=$?
check "unknown extension refused" test $rc -eq 2
grep -q "must end in .png, .svg or .pdf" err.txt || fail "extension message"
rc=0; "$SHEARS" plot nowhere -o p.png 2> err.txt || rc=$?
check "unknown source refused" test $rc -eq 2
grep -q "'nowhere' is neither a results directory nor a sweep id" err.txt || fail "source message"
rc=0; "$SHEARS" report res 2> err.txt || rc=$?
check "report without -o refused" test $rc -eq 2
mkdir empty && "$SHEARS" plot empty -o p.png 2> err.txt && fail "a directory without results"
grep -q "empty is not a results directory" err.txt || { cat err.txt; fail "empty directory message"; }

# The report: self-contained, with the values of the sweep.
"$SHEARS" report res -o report.html > /dev/null || fail "report"
dense=$(awk -F, 'NR > 1 && $5 == 0 { s += $8; n++ } END { printf "%.2f%%", 100 * s / n }' res/metrics.csv)
python3 - "$dense" <<'PY' || fail "report contents"
import sys
from html.parser import HTMLParser
dense = sys.argv[1]
html = open("report.html").read()
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.refs = set(), {}, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in a:
            self.ids.add(a["id"])
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
p = P()
p.feed(html)
for want in ("dense", "plots", "accuracy", "budgets", "time", "sweep"):
    assert want in p.ids, "section " + want
assert p.tags.get("svg", 0) >= 1, "inline SVG"
assert not [r for r in p.refs if not r.startswith("#")], p.refs
assert "<script" not in html
for want in (dense, "lr-rewind", "finetune", "fc1.weight", "models per job-hour",
             "lenet_300_100"):
    assert want in html, want
PY

# The same from a broker, by sweep id.
EP=tcp://127.0.0.1:$(free_port)
export SHEARS_BROKER=$EP
"$BROKER" --bind "$EP" --state state > broker.log 2>&1 &
PIDS+=("$!")
wait_listening broker.log
"$WORKER" --broker "$EP" --threads 1 --cache cache --name w1 > w1.log 2>&1 &
PIDS+=("$!")
"$SHEARS" submit sweep.yaml --set train.epochs=1 --set 'train.schedule.milestones=[1]' \
    --set prune.rounds=1 --set 'retrain=[lr-rewind]' --watch > submit.out 2> submit.err \
    || { cat submit.err; fail "submit"; }
id=$(head -1 submit.out)
"$SHEARS" report "$id" -o remote.html > /dev/null || fail "report by sweep id"
grep -q "fc1.weight" remote.html || fail "the broker's models in the report"
"$SHEARS" plot "$id" -o remote.svg > /dev/null || fail "plot by sweep id"
rc=0; "$SHEARS" plot 999 -o p.png 2> err.txt || rc=$?
check "unknown sweep id refused ($rc)" test $rc -eq 2
grep -q "sweep 999" err.txt || { cat err.txt; fail "unknown sweep message"; }

# Opened in a browser, as a person would.
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "report: chromium not installed; browser checks skipped"
    echo "report: ok"
    exit 0
fi
B=("$CHROME" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$TMP/chrome")
timeout 120 "${B[@]}" --dump-dom "file://$TMP/report.html" > dom.html 2> chrome.log \
    || { tail chrome.log; fail "chromium opens the report"; }
timeout 120 "${B[@]}" --window-size=1280,1600 --screenshot="$TMP/shot.png" \
    "file://$TMP/report.html" >> chrome.log 2>&1 || { tail chrome.log; fail "screenshot"; }
python3 - "$dense" <<'PY' || fail "what the browser shows"
import sys
dom = open("dom.html").read()
for want in ("shears report", sys.argv[1], "Accuracy per round", "Smallest model per accuracy budget",
             "Time spent", "<svg", "lr-rewind"):
    assert want in dom, want
PY
python3 "$HERE/png_check.py" shot.png 1280 1600 || fail "the screenshot"
echo "report: browser shows the report ($(stat -c %s shot.png) byte screenshot)"
echo "report: ok"
