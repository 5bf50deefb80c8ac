#!/usr/bin/env bash
# 40 sequential ~10 ms steps, in Prefect 3 (on its default SQLite store) and in weir (storing
# every step in SQLite, the default), in one run on one machine; prints each and the ratios.
#
#   bench/prefect/compare.sh [RUNS]      (default 10)
#
# Prefect is installed from PyPI into a throwaway virtualenv under $WEIR_BENCH_DIR (default
# /tmp/weir-bench-prefect), kept for the next run. The floor is 40 x 10 ms = 0.40 s.
set -euo pipefail
runs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${WEIR_BENCH_DIR:-/tmp/weir-bench-prefect}
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ] || ! "$work/venv/bin/python" -c 'import prefect' 2>/dev/null; then
  echo "installing prefect 3 into $work/venv ..." >&2
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q "prefect>=3,<4"
fi
prefect_version=$("$work/venv/bin/python" -c 'import prefect; print(prefect.__version__)')

cargo build --release -q -p weir --manifest-path "$root/Cargo.toml"
weir="${CARGO_TARGET_DIR:-$root/target}/release/weir"
pipeline="$root/bench/chain40.yaml"

# Whole-process wall time of a command, in seconds.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

export PREFECT_HOME="$work/prefect-home"
rm -rf "$PREFECT_HOME" "$work/weir-home"
export WEIR_HOME="$work/weir-home"

echo "prefect $prefect_version, weir $("$weir" --version | awk '{print $2}'), $runs runs each, $(nproc) cores" >&2
prefect_warm=$("$work/venv/bin/python" "$here/flow.py" "$runs" 2>/dev/null | tail -1)
prefect_process=$(for _ in $(seq 1 3); do seconds "$work/venv/bin/python" "$here/flow.py" 0; done | median)
"$weir" run "$pipeline" > /dev/null  # creates the store
weir_process=$(for _ in $(seq 1 "$runs"); do seconds "$weir" run "$pipeline"; done | median)

printf '%-58s %8.3f s\n' "prefect, one flow run in a warm process (median)" "$prefect_warm"
printf '%-58s %8.3f s\n' "prefect, whole process, one flow run (median of 3)" "$prefect_process"
printf '%-58s %8.3f s\n' "weir run, whole process, stored in SQLite (median)" "$weir_process"
printf '%-58s %8.1fx\n' "prefect warm / weir whole process" "$(echo "$prefect_warm / $weir_process" | bc -l)"
printf '%-58s %8.1fx\n' "prefect whole process / weir whole process" "$(echo "$prefect_process / $weir_process" | bc -l)"
