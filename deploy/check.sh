#!/usr/bin/env bash
# Static checks of deploy/: `bash deploy/check.sh` (from anywhere; needs python3).
#
# - every dashboard in deploy/grafana/ is JSON a Grafana of schema 39 imports: a title, a
#   unique uid, panel ids unique within it (rows' nested panels too), every panel and query on
#   the `${datasource}` variable, a `job` variable;
# - every PromQL expression of the dashboards (queries, variables, annotations), of the alert
#   rules and of their unit tests names only metrics weir exposes (the list below; set
#   WEIR_METRICS_FILE to a file to take the names from it instead, e.g. docs/metrics.md: every
#   `weir_…`/`process_…` word in it counts), besides Prometheus's own `up` and `ALERTS`;
# - when the `prometheus` server is installed (Debian package `prometheus`), it is started for a
#   moment on deploy/prometheus/prometheus.yml (which loads alerts.yml) with an empty database,
#   and every dashboard expression, its Grafana variables replaced by sample values, is sent to
#   its query API: a syntax error fails the check. WEIR_CHECK_PROMETHEUS=0 skips this;
#   WEIR_CHECK_PROMETHEUS_ADDR picks the address (default 127.0.0.1:9099).
set -euo pipefail
if [ -n "${WEIR_METRICS_FILE:-}" ]; then
  WEIR_METRICS_FILE="$(realpath "$WEIR_METRICS_FILE")"
  export WEIR_METRICS_FILE
fi
cd "$(dirname "$0")"

exec python3 - "$@" <<'PY'
import glob, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.parse, urllib.request

# The metrics weir exposes: counters and gauges by name, histograms by base name.
METRICS = """
weir_runs_total
weir_run_duration_seconds histogram
weir_step_duration_seconds histogram
weir_step_retries_total
weir_runs_in_flight
weir_approvals_pending
weir_store_commit_seconds histogram
weir_store_errors_total
process_cpu_seconds_total
process_resident_memory_bytes
process_open_fds
process_start_time_seconds
"""
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}

errors = []
def fail(msg):
    errors.append(msg)

def allowed_names():
    names = set(PROMETHEUS_OWN)
    src = os.environ.get("WEIR_METRICS_FILE")
    if src:
        text = open(src).read()
        found = set(re.findall(r"\b(?:weir|process)_[a-z0-9_]+\b", text))
        for n in found:
            names.add(n)
            for suffix in ("_bucket", "_sum", "_count"):
                names.add(n + suffix)
        return names
    for line in METRICS.strip().splitlines():
        parts = line.split()
        names.add(parts[0])
        if parts[1:] == ["histogram"]:
            for suffix in ("_bucket", "_sum", "_count"):
                names.add(parts[0] + suffix)
    return names

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}

def metric_names(expr):
    """The metric names an expression selects: identifiers that are not functions, keywords,
    label names (in braces or in by/on/... lists) or durations."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                                             # matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                            # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)                                           # Grafana variables
    names = []
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.append(word)
    return names

def label_values_expr(q):
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q, re.S)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", q)
    if m:
        return None
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
    return m.group(1) if m else q

allowed = allowed_names()
exprs = []  # (where, expr, from a dashboard)

# ---- dashboards
uids = {}
dashboards = sorted(glob.glob("grafana/*.json"))
if not dashboards:
    fail("no dashboards in deploy/grafana/")
for path in dashboards:
    try:
        d = json.load(open(path))
    except json.JSONDecodeError as e:
        fail(f"{path}: not JSON: {e}")
        continue
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in d:
            fail(f"{path}: no `{key}`")
    if not isinstance(d.get("schemaVersion"), int) or d.get("schemaVersion", 0) < 36:
        fail(f"{path}: schemaVersion {d.get('schemaVersion')!r}, expected 36 or later")
    if d.get("uid") in uids:
        fail(f"{path}: uid {d.get('uid')!r} also in {uids[d['uid']]}")
    uids[d.get("uid")] = path
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        fail(f"{path}: no `datasource` variable of type datasource")
    if "job" not in variables:
        fail(f"{path}: no `job` variable")
    for name, v in variables.items():
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            inner = label_values_expr(q)
            if inner:
                exprs.append((f"{path}: variable {name}", inner, True))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"{path}: annotation {a.get('name')!r}", a["expr"], True))
    ids = {}
    def walk(panels):
        for p in panels:
            pid = p.get("id")
            where = f"{path}: panel {pid} {p.get('title')!r}"
            if not isinstance(pid, int):
                fail(f"{where}: no integer id")
            elif pid in ids:
                fail(f"{where}: id {pid} also the id of {ids[pid]!r}")
            else:
                ids[pid] = p.get("title")
            if "gridPos" not in p:
                fail(f"{where}: no gridPos")
            walk(p.get("panels", []))
            if p.get("type") == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"{where}: datasource is not ${{datasource}}")
            if not p.get("targets"):
                fail(f"{where}: no queries")
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    fail(f"{where}: query {t.get('refId')}: datasource is not ${{datasource}}")
                if not t.get("expr"):
                    fail(f"{where}: query {t.get('refId')}: no expr")
                else:
                    exprs.append((f"{where} query {t.get('refId')}", t["expr"], True))
    walk(d.get("panels", []))

# ---- rules and their tests
def yaml_exprs(path):
    """(key, value) of every `expr:` and `series:` in a rule or test file."""
    text = open(path).read()
    try:
        import yaml
    except ImportError:
        yaml = None
    out = []
    if yaml:
        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("expr", "series") and isinstance(v, str):
                        out.append((k, v))
                    else:
                        walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(yaml.safe_load(text))
        return out
    # Without PyYAML: `key: value` on one line, or a `key: |` block of deeper indented lines.
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:- )?(expr|series):\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, key, value = len(m.group(1)), m.group(2), m.group(3).strip()
        if value in ("|", ">", "|-", ">-"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            value = "\n".join(block)
        else:
            value = value.strip("'\"")
        out.append((key, value))
    return out

for path in ("prometheus/alerts.yml", "prometheus/alerts.test.yml"):
    if not os.path.exists(path):
        fail(f"{path}: missing")
        continue
    found = yaml_exprs(path)
    if not found:
        fail(f"{path}: no expressions found")
    for key, value in found:
        exprs.append((f"{path}: {key} {value.strip().splitlines()[0][:60]!r}", value, False))

for where, expr, _ in exprs:
    names = metric_names(expr)
    if not names:
        fail(f"{where}: selects no metric: {expr!r}")
    for n in names:
        if n not in allowed:
            fail(f"{where}: `{n}` is not a metric weir exposes")

print(f"deploy/check.sh: {len(dashboards)} dashboards, {len(exprs)} expressions, metric names checked")

# ---- the expressions parse, on a real Prometheus
def substitute(expr):
    values = {"job": "weir", "pipeline": ".*", "instance": ".*", "__rate_interval": "1m",
              "__interval": "1m", "__range": "1h", "__range_s": "3600", "__interval_ms": "60000"}
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            fail(f"unknown Grafana variable ${name} in {expr!r}")
            return "weir"
        return values[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)

def parse_on_prometheus():
    if os.environ.get("WEIR_CHECK_PROMETHEUS") == "0":
        print("deploy/check.sh: WEIR_CHECK_PROMETHEUS=0: the expressions are not sent to Prometheus")
        return
    server = shutil.which("prometheus")
    if not server:
        print("deploy/check.sh: no `prometheus` server (Debian package prometheus): the expressions are not sent to one")
        return
    addr = os.environ.get("WEIR_CHECK_PROMETHEUS_ADDR", "127.0.0.1:9099")
    data = tempfile.mkdtemp(prefix="weir-check-prometheus-")
    log = open(os.path.join(data, "log"), "w+")
    proc = subprocess.Popen([server, "--config.file=prometheus/prometheus.yml",
                             f"--storage.tsdb.path={data}/tsdb", f"--web.listen-address={addr}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://{addr}"
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                fail(f"prometheus exited with {proc.returncode}:\n{log.read()[-2000:]}")
                return
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=2).read()
                break
            except Exception:
                if time.time() > deadline:
                    fail(f"prometheus not ready at {addr} after 30 s")
                    return
                time.sleep(0.3)
        # The rules the server loaded (alerts.yml, through prometheus.yml).
        rules = json.load(urllib.request.urlopen(base + "/api/v1/rules", timeout=10))
        loaded = sum(len(g["rules"]) for g in rules["data"]["groups"])
        if loaded == 0:
            fail("prometheus loaded no rules from prometheus/prometheus.yml")
        sent = 0
        for where, expr, from_dashboard in exprs:
            if not from_dashboard:
                continue
            q = substitute(expr)
            body = urllib.parse.urlencode({"query": q, "time": str(time.time())}).encode()
            try:
                answer = json.load(urllib.request.urlopen(base + "/api/v1/query", data=body, timeout=10))
            except urllib.error.HTTPError as e:
                answer = json.load(e)
            sent += 1
            if answer.get("status") != "success":
                fail(f"{where}: Prometheus rejects {q!r}: {answer.get('error')}")
        print(f"deploy/check.sh: {sent} dashboard expressions parsed by Prometheus at {addr}, {loaded} rules loaded")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)

parse_on_prometheus()

if errors:
    for e in errors:
        print("error: " + e, file=sys.stderr)
    print(f"deploy/check.sh: {len(errors)} errors", file=sys.stderr)
    sys.exit(1)
print("deploy/check.sh: passed")
PY
