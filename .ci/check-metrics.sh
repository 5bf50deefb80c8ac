#!/usr/bin/env bash
# A real scrape of `weir worker --metrics-addr`, after it ran a submitted run, checked by
# `promtool check metrics` (Prometheus's own parser and lints).
set -euo pipefail
weir=${1:?usage: check-metrics.sh PATH-TO-WEIR}
dir=$(mktemp -d)
worker=
cleanup() {
  if [ -n "$worker" ]; then kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
export WEIR_HOME="$dir/home" NO_COLOR=1
cat >"$dir/p.yaml" <<'YAML'
name: scraped
steps:
  - { id: a, uses: transform, with: { expr: '1' } }
YAML
"$weir" worker --poll 20ms --metrics-addr 127.0.0.1:0 2>"$dir/worker.err" &
worker=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's|^metrics: http://\(.*\)/metrics$|\1|p' "$dir/worker.err")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$dir/worker.err"; echo "the worker did not say where its metrics are" >&2; exit 1; }
"$weir" submit "$dir/p.yaml" >/dev/null
for _ in $(seq 100); do
  curl -fsS "http://$addr/metrics" >"$dir/scrape.txt"
  grep -q '^weir_runs_total{pipeline="scraped",status="succeeded"} 1$' "$dir/scrape.txt" && break
  sleep 0.1
done
grep -q '^weir_runs_total{pipeline="scraped",status="succeeded"} 1$' "$dir/scrape.txt" \
  || { cat "$dir/scrape.txt"; echo "the run is not in the scrape" >&2; exit 1; }
if command -v promtool >/dev/null; then
  promtool check metrics <"$dir/scrape.txt"
  echo "promtool accepts a scrape of $(grep -c '^[a-z]' "$dir/scrape.txt") samples"
else
  echo "promtool is missing: the scrape holds the run, but its format is not checked"
fi
