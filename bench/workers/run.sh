#!/usr/bin/env bash
# Workers on PostgreSQL, release build, in a schema of their own (dropped before and after):
#
# 1. throughput: RUNS runs of a 3-step `transform` chain queued at once (`weir submit --repeat`),
#    then 2 workers (`--concurrency C`, `--poll 20ms`) run them; prints the runs per second over
#    each 5 s and over the whole, and checks that none was lost or run twice (one `run_started`
#    event per run, no `run_resumed`);
# 2. latency: "40 sequential ~10 ms steps" (the public workflow-engine benchmark), `weir submit
#    --wait` with one idle worker (default `--poll`: the submit's NOTIFY wakes it), whole
#    process from submit to result; the median of N. The floor is 40 x 10 ms = 0.40 s.
#
#   bench/workers/run.sh [RUNS] [N]     (defaults 60000 and 11)
#
# WEIR_BENCH_DATABASE_URL names the server (default postgres://root@127.0.0.1:5432/test),
# WEIR_BENCH_CONCURRENCY the runs per worker (default 64), WEIR_BENCH_DURABILITY the workers'
# `--durability` (default `normal`: their writes do not wait for the server's WAL flush, as
# `synchronous_commit=off`; `full`: they do). WEIR_BENCH_HOLD=1 holds a transaction open (a snapshot of the queue,
# as a long report would) while the runs flow, and reports the queue table's size after: the
# dead rows PostgreSQL cannot remove meanwhile.
set -euo pipefail
runs=${1:-60000}
samples=${2:-11}
server=${WEIR_BENCH_DATABASE_URL:-postgres://root@127.0.0.1:5432/test}
concurrency=${WEIR_BENCH_CONCURRENCY:-64}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cargo build --release -q -p weir --manifest-path "$root/Cargo.toml"
weir="${CARGO_TARGET_DIR:-$root/target}/release/weir"
schema=weir_bench_workers
work=$(mktemp -d)
sql() { psql -X -q -t -A "$server" -c "$1" 2> /dev/null; }
# Ends the held transaction, if any (the server would not notice its client go until it woke).
release_hold() {
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%weir-bench-hold */%' AND pid <> pg_backend_pid()" > /dev/null || true
}
cleanup() {
  release_hold
  jobs -p | xargs -r kill 2> /dev/null || true
  sql "DROP SCHEMA IF EXISTS $schema CASCADE" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
sql "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" > /dev/null
sep='?'; case $server in *\?*) sep='&' ;; esac
durability=${WEIR_BENCH_DURABILITY:-normal}
export WEIR_DATABASE_URL="$server${sep}options=-csearch_path%3D$schema"
export WEIR_HOME="$work/home"

cat > "$work/three.yaml" << 'YAML'
name: three
steps:
  - { id: a, uses: transform, with: { expr: '.input.n + 1' } }
  - { id: b, uses: transform, needs: [a], with: { expr: '.steps.a.output * 2' } }
  - { id: c, uses: transform, needs: [b], with: { expr: '{n: .steps.b.output}' } }
output: .steps.c.output
YAML

now() { date +%s.%N; }
left() { sql "SELECT COUNT(*) FROM $schema.queue"; }

echo "postgres $(sql 'SHOW server_version') (synchronous_commit=$(sql 'SHOW synchronous_commit')), workers at --durability $durability, $(nproc) cores, concurrency $concurrency" >&2
echo "queueing $runs runs of a 3-step transform chain ..." >&2
# `--repeat` takes at most 100,000 runs a call.
for ((left_to_queue = runs; left_to_queue > 0; left_to_queue -= 100000)); do
  "$weir" submit "$work/three.yaml" --set n=1 --repeat "$((left_to_queue < 100000 ? left_to_queue : 100000))" > /dev/null
done
if [ -n "${WEIR_BENCH_HOLD:-}" ]; then
  psql -X -q "$WEIR_DATABASE_URL" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT COUNT(*) FROM queue; SELECT pg_sleep(3600) /* weir-bench-hold */;" > /dev/null 2>&1 &
fi
start=$(now)
for w in 1 2; do
  "$weir" worker --quiet --concurrency "$concurrency" --poll 20ms --durability "$durability" &
done
last=$runs
last_at=$start
while :; do
  sleep 5
  n=$(left)
  at=$(now)
  printf '  %6.1f s: %6.0f runs/s\n' "$(echo "$at - $start" | bc -l)" "$(echo "($last - $n) / ($at - $last_at)" | bc -l)" >&2
  last=$n
  last_at=$at
  [ "$n" -eq 0 ] && break
done
# The queue is empty at most 5 s after the last run ended; the runs' own end times say when.
first=$(sql "SELECT MIN(started_at) FROM $schema.runs")
end=$(sql "SELECT MAX(finished_at) FROM $schema.runs")
if [ -n "${WEIR_BENCH_HOLD:-}" ]; then
  printf '%-60s %8s\n' "  queue table while the transaction is held (live rows, size)" "$(sql "SELECT COUNT(*) FROM $schema.queue"), $(sql "SELECT pg_size_pretty(pg_total_relation_size('$schema.queue'))")"
  release_hold
fi
kill -TERM $(jobs -p)
wait
succeeded=$(sql "SELECT COUNT(*) FROM $schema.runs WHERE status = 'succeeded'")
started=$(sql "SELECT COUNT(*) FROM $schema.events WHERE type = 'run_started'")
resumed=$(sql "SELECT COUNT(*) FROM $schema.events WHERE type = 'run_resumed'")
seconds=$(echo "($end - $first) / 1000" | bc -l)
printf '%-60s %8.0f runs/s\n' "2 workers x $concurrency, 3-step transform chain, $runs runs" "$(echo "$runs / $seconds" | bc -l)"
printf '%-60s %8.1f s\n' "  from the first run's start to the last run's end" "$seconds"
printf '%-60s %8s\n' "  succeeded / started once / resumed" "$succeeded / $started / $resumed"
[ "$succeeded" -eq "$runs" ] && [ "$started" -eq "$runs" ] && [ "$resumed" -eq 0 ] || { echo "lost or duplicated runs" >&2; exit 1; }

"$weir" worker --quiet --durability "$durability" &
sleep 0.5
times=()
for _ in $(seq 1 "$samples"); do
  s=$(now)
  "$weir" submit "$root/bench/chain40.yaml" --wait > /dev/null
  e=$(now)
  times+=("$(echo "$e - $s" | bc -l)")
done
median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
printf '%-60s %8.3f s\n' "40 sequential 10 ms steps, submit --wait to result (median of $samples)" "$median"
