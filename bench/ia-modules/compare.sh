#!/usr/bin/env bash
# linear-100 and fanout-98 in ia-modules 0.2.0 and in weir, whole process against whole process,
# each pipeline's commands measured together in one `weir bench cmd` invocation; prints the
# medians and the ratios (ia-modules / weir), then ia-modules' warm in-process times.
#
#   bench/ia-modules/compare.sh [RUNS]      (default 10 measured runs per command, 2 warm-ups)
#
# ia-modules is installed from PyPI into a throwaway virtualenv in a temporary directory that is
# removed at the end; IA_VENV=DIR uses (and if need be creates) a virtualenv there instead and
# keeps it. IA_BENCH_TOOL=hyperfine measures with hyperfine instead of `weir bench cmd`.
set -euo pipefail
runs=${1:-10}
warmup=2
tool=${IA_BENCH_TOOL:-weir}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-ia.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say() { echo "== $*" >&2; }

venv=${IA_VENV:-$tmp/venv}
if ! "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("ia-modules") == "0.2.0"' 2>/dev/null; then
  say "installing ia-modules==0.2.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check ia-modules==0.2.0
fi
py="$venv/bin/python"

say "building weir (release)"
cargo build --release -q -p weir --manifest-path "$root/Cargo.toml"
weir="${CARGO_TARGET_DIR:-$root/target}/release/weir"
export WEIR_HOME="$tmp/weir-home"

# Both tools must compute the same thing: weir's run output and ia-modules' final `value`.
check() {
  local name=$1 expected=$2 got_weir got_ia
  got_weir=$("$weir" run --no-store "$here/$name.yaml" 2>/dev/null | tr -d '[:space:]')
  got_ia=$("$py" "$here/run_ia.py" "$here/$name.json" | awk '/^value/ {print $2}')
  say "$name: weir output $got_weir, ia-modules value $got_ia (expected $expected)"
  [ "$got_weir" = "$expected" ] && [ "$got_ia" = "$expected" ] || { echo "results differ" >&2; exit 1; }
}

# measure NAME ARGV-STRING...: one invocation measuring every command, interleaved; writes
# $tmp/NAME.json (a weir bench report, or hyperfine's export). Labels are given as LABEL=ARGV.
measure() {
  local out="$tmp/$1.json"; shift
  local names=() cmds=() spec
  for spec in "$@"; do names+=("${spec%%=*}"); cmds+=("${spec#*=}"); done
  if [ "$tool" = hyperfine ]; then
    local args=() i
    for i in "${!names[@]}"; do args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
    hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-json "$out" "${args[@]}" >&2
  else
    local args=() i
    for i in "${!names[@]}"; do args+=(--name "${names[$i]}"); done
    for i in "${!cmds[@]}"; do args+=(--); read -r -a argv <<< "${cmds[$i]}"; args+=("${argv[@]}"); done
    "$weir" bench cmd --warmup "$warmup" --runs "$runs" --json -o "$out" "${args[@]}" > /dev/null
  fi
}

# Prints one line per command (median ms) and the ratio of each ia-modules command to each weir one.
report() {
  python3 - "$tool" "$tmp/$1.json" "$1" <<'EOF'
import json, sys
tool, path, title = sys.argv[1:]
doc = json.load(open(path))
if tool == "hyperfine":
    rows = [(r["command"], r["median"] * 1000) for r in doc["results"]]
else:
    names = [b["name"] for b in doc["benchmarks"]]
    rows = [(n, b["metrics"][0]["summary"]["median"]) for n, b in zip(names, doc["benchmarks"])]
print(f"\n{title}: whole process, median of the measured runs")
for name, ms in rows:
    print(f"  {name:<28} {ms:10.1f} ms")
weirs = [(n, ms) for n, ms in rows if n.startswith("weir")]
for name, ms in rows:
    if name.startswith("ia-modules"):
        for wname, wms in weirs:
            print(f"  {name + ' / ' + wname:<44} {ms / wms:8.1f}x")
EOF
}

say "ia-modules $("$py" -c 'import importlib.metadata as m; print(m.version("ia-modules"))'), $("$weir" --version), python $("$py" -c 'import platform; print(platform.python_version())'), $(nproc) cores, $runs runs + $warmup warm-ups per command, measured with $tool"
check linear-100 100
check fanout-98 98
"$weir" run "$here/linear-100.yaml" > /dev/null  # creates the store before anything is timed

say "measuring linear-100"
measure linear-100 \
  "weir=$weir run $here/linear-100.yaml" \
  "weir --no-store=$weir run --no-store $here/linear-100.yaml" \
  "ia-modules=$py $here/run_ia.py $here/linear-100.json"
say "measuring fanout-98"
measure fanout-98 \
  "weir=$weir run $here/fanout-98.yaml" \
  "weir --no-store=$weir run --no-store $here/fanout-98.yaml" \
  "ia-modules=$py $here/run_ia.py $here/fanout-98.json" \
  "ia-modules ParallelStep=$py $here/run_ia.py $here/fanout-98.json --parallel-step"

report linear-100
report fanout-98

say "ia-modules warm, in one process ($runs runs after one warm-up)"
echo
echo "ia-modules in a warm process (median of $runs runs)"
for spec in "linear-100.json" "fanout-98.json" "fanout-98.json --parallel-step"; do
  read -r -a argv <<< "$spec"
  printf '  %-32s %s\n' "$spec" "$("$py" "$here/run_ia.py" "$here/${argv[0]}" "${argv[@]:1}" --repeat "$runs" | sed -n 's/^warm median //p')"
done
