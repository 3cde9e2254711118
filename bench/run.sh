#!/usr/bin/env bash
# The benchmark set of the hot paths (queue pages, badge counts, history,
# me, setOwner, the logout cleanup), on the embedded SQLite store, written
# to one file that benchstat (golang.org/x/perf/cmd/benchstat) reads:
#
#   bash bench/run.sh bench/new.txt
#   go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench/baseline.txt bench/new.txt
#
# COUNT (default 5) is how many times each benchmark runs; BENCHTIME is go
# test's -benchtime for all but the cleanup (default 1s). Each size is a
# benchstat configuration ("conversations: N"), so the same names at
# 1,000 and at 100,000 conversations land in separate tables.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bench/new.txt}
count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# Benchmark lines and their configuration lines only; go test's log goes
# to stderr. A failing benchmark fails the script.
run() {
	go test -run '^$' -count "$count" "$@" ./store/sqlite/ >"$tmp.part"
	grep -v '^\(PASS\|ok \)' "$tmp.part" || true
	rm -f "$tmp.part"
}

{
	# Not configuration lines (benchstat ignores them): which code ran.
	echo "# $(git log -1 --format='%h %s')$(git diff --quiet HEAD -- . ':!bench' || echo ' (with uncommitted changes)')"
	echo "# $(nproc) cores, COUNT=$count BENCHTIME=$benchtime"
	echo "conversations: 100000"
	SWITCHBOARD_BENCH_CONVERSATIONS=100000 run -benchtime "$benchtime" -bench '^(BenchmarkStore|BenchmarkAPI)$'
	echo "conversations: 1000"
	SWITCHBOARD_BENCH_CONVERSATIONS=1000 run -benchtime "$benchtime" -bench '^BenchmarkStore$/^(CountQueue|CountOwners)$'
	SWITCHBOARD_BENCH_CONVERSATIONS=1000 run -benchtime "$benchtime" -bench '^BenchmarkAPI$/^(queueCounts|queue|httpFloor|me)$'
	# The logout cleanup of 10,000 conversations, each run on a fresh copy.
	echo "conversations: 10000"
	run -benchtime 1x -bench '^BenchmarkLogoutCleanup$'
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
