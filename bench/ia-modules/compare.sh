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

say "building weir (release)"
cargo build --release -q -p weir --manifest-path "$root/Cargo.toml"
weir="${CARGO_TARGET_DIR:-$root/target}/release/weir"
export WEIR_HOME="$tmp/weir-home"
if [ "$tool" = weir ] && ! "$weir" bench cmd --help > /dev/null 2>&1; then
  echo "this weir has no \`weir bench cmd\`; IA_BENCH_TOOL=hyperfine measures with hyperfine instead" >&2
  exit 2
fi
venv=${IA_VENV:-$tmp/venv}
if ! "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("ia-modules") == "0.2.0"' 2>/dev/null; then
  say "installing ia-modules==0.2.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check ia-modules==0.2.0
fi
py="$venv/bin/python"
if [ "$tool" = hyperfine ]; then
  command -v hyperfine > /dev/null || { echo "hyperfine is not installed (Debian: apt-get install hyperfine)" >&2; exit 2; }
fi

cd "$here"  # the commands below name the pipelines by their file names

# Both tools must compute the same thing: weir's run output and ia-modules' final `value`.
check() {
  local name=$1 expected=$2 got_weir got_ia
  got_weir=$("$weir" run --no-store "$name.yaml" 2>/dev/null | tr -d '[:space:]')
  got_ia=$("$py" run_ia.py "$name" | awk '/^value/ {print $2}')
  say "$name: weir output $got_weir, ia-modules value $got_ia (expected $expected)"
  [ "$got_weir" = "$expected" ] && [ "$got_ia" = "$expected" ] || { echo "results differ" >&2; exit 1; }
}

# measure NAME LABEL=ARGV...: one invocation measuring every command together (hyperfine: one
# after the other); writes $tmp/NAME.json, a weir bench report or hyperfine's export, and the
# labels in order. ARGV is split on spaces and run without a shell.
measure() {
  local title=$1 out="$tmp/$1.json"; shift
  local names=() cmds=() spec
  for spec in "$@"; do names+=("${spec%%=*}"); cmds+=("${spec#*=}"); done
  printf '%s\n' "${names[@]}" > "$tmp/$title.labels"
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

# Prints one line per command (median ms) and the ratio of each ia-modules command to each weir
# one. The commands are in the order given, so the labels are taken from measure's list.
report() {
  python3 - "$tool" "$tmp/$1.json" "$tmp/$1.labels" "$1" <<'EOF'
import json, sys
tool, path, labels, title = sys.argv[1:]
doc = json.load(open(path))
names = open(labels).read().splitlines()
if tool == "hyperfine":
    medians = [r["median"] * 1000 for r in doc["results"]]
    # CPU time per process (user + system): on a busy machine, steadier than wall time.
    cpu = [f"  cpu {(r['user'] + r['system']) * 1000:7.1f} ms" for r in doc["results"]]
else:  # a weir bench report: benchmarks[i].metrics[0] is `latency`, in ms
    medians = [b["metrics"][0]["summary"]["median"] for b in doc["benchmarks"]]
    cpu = [""] * len(medians)
rows = list(zip(names, medians, strict=True))
print(f"\n{title}: whole process, median of the measured runs")
for (name, ms), c in zip(rows, cpu):
    print(f"  {name:<32} {ms:10.1f} ms{c}")
weirs = [(n, ms) for n, ms in rows if n.startswith("weir")]
for name, ms in rows:
    if name.startswith("ia-modules"):
        for wname, wms in weirs:
            print(f"  {name + ' / ' + wname:<46} {ms / wms:8.1f}x")
EOF
}

say "ia-modules $("$py" -c 'import importlib.metadata as m; print(m.version("ia-modules"))'), $("$weir" --version), python $("$py" -c 'import platform; print(platform.python_version())'), $(nproc) cores, load $(uptime | sed "s/.*load averages*: //"), $runs runs + $warmup warm-ups per command, measured with $tool"
check linear-100 100
check fanout-98 98
"$weir" run linear-100.yaml > /dev/null  # creates the store before anything is timed

say "measuring linear-100"
measure linear-100 \
  "weir=$weir run linear-100.yaml" \
  "weir --no-store=$weir run --no-store linear-100.yaml" \
  "ia-modules=$py run_ia.py linear-100" \
  "python, ia-modules imports only=$py run_ia.py --imports-only"
say "measuring fanout-98"
measure fanout-98 \
  "weir=$weir run fanout-98.yaml" \
  "weir --no-store=$weir run --no-store fanout-98.yaml" \
  "ia-modules=$py run_ia.py fanout-98" \
  "ia-modules ParallelStep=$py run_ia.py fanout-98 --parallel-step"

report linear-100
report fanout-98

say "in-process run times ($runs runs each)"
echo
echo "weir: warm runs in one process (weir bench run: $runs warm-ups, then the median of $((runs * 10)) runs)"
for name in linear-100 fanout-98; do
  for store in temp none; do
    printf '  %-32s %s ms\n' "$name.yaml --store $store" "$("$weir" bench run "$name.yaml" --store "$store" \
      --warmup "$runs" -n $((runs * 10)) --json | python3 -c '
import json, sys
print("%.3f" % json.load(sys.stdin)["benchmarks"][0]["metrics"][0]["summary"]["median"])')"
  done
done
echo "ia-modules: one process, one warm-up run, then the median of $runs runs"
for spec in "linear-100" "fanout-98" "fanout-98 --parallel-step"; do
  read -r -a argv <<< "$spec"
  printf '  %-32s %s\n' "$spec" "$("$py" run_ia.py "${argv[@]}" --repeat "$runs" | sed -n 's/^warm median //p')"
done
