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
# - when the `prometheus` server and `promtool` are installed (Debian package `prometheus`), the
#   server is started for a moment on deploy/prometheus/prometheus.yml (which loads alerts.yml)
#   with a database of sample data of every metric (made with `promtool tsdb create-blocks-from
#   openmetrics`), and every dashboard expression, its Grafana variables replaced by sample
#   values, is sent to its query API: each must parse and return at least one series, with the
#   labels its legend names.
#   WEIR_CHECK_PROMETHEUS=0 skips this; WEIR_CHECK_PROMETHEUS_ADDR picks the address (default
#   a free port of 127.0.0.1).
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
legends = {}  # index in exprs: the labels a query's legend names

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
                    legends[len(exprs) - 1] = re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", ""))
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

def sample_data(end):
    """OpenMetrics text: every metric weir exposes, for two workers, two pipelines, two steps and
    every status, a sample every 15 s for 30 minutes up to `end` (seconds)."""
    times = range(end - 1800, end + 1, 15)
    out = []
    def series(name, labels, value):
        out.extend(f"{name}{{{labels}}} {value(i):.3f} {t}" for i, t in enumerate(times))
    def histogram(name, labels_list, rate, bounds):
        out.append(f"# TYPE {name} histogram")
        for labels in labels_list:
            for k, le in enumerate(bounds + ["+Inf"]):
                share = (k + 1) / (len(bounds) + 1)
                le = le if le == "+Inf" else float(le)
                series(name + "_bucket", f'{labels},le="{le}"', lambda i: i * rate * share)
            series(name + "_count", labels, lambda i: i * rate)
            series(name + "_sum", labels, lambda i: i * rate * bounds[0])
    workers = [f'job="weir",instance="127.0.0.1:{port}"' for port in (9464, 9465)]
    runs = [f'{w},pipeline="{p}",status="{st}"' for w in workers for p in ("etl", "report")
            for st in ("succeeded", "failed", "cancelled")]
    steps = [f'{w},pipeline="{p}",step="{s}",kind="{k}"' for w in workers for p in ("etl", "report")
             for s, k in (("extract", "http"), ("load", "sql"))]
    out.append("# TYPE weir_runs_total counter")
    for r in runs:
        series("weir_runs_total", r, lambda i: i * 0.5)
    histogram("weir_run_duration_seconds", runs, 0.5, [1, 5, 30, 60])
    histogram("weir_step_duration_seconds", [f'{s},status="{st}"' for s in steps for st in ("succeeded", "failed")],
              0.5, [0.1, 1, 10, 60])
    out.append("# TYPE weir_step_retries_total counter")
    for s in steps:
        series("weir_step_retries_total", s, lambda i: i * 0.1)
    histogram("weir_store_commit_seconds", workers, 2, [0.001, 0.01, 0.1, 1])
    for name, typ, value, extra in (
            ("weir_runs_in_flight", "gauge", lambda i: i % 3, [""]),
            ("weir_approvals_pending", "gauge", lambda i: 1, [""]),
            ("weir_store_errors_total", "counter", lambda i: i // 20, [',op="commit"', ',op="read"']),
            ("process_cpu_seconds_total", "counter", lambda i: i * 1.5, [""]),
            ("process_resident_memory_bytes", "gauge", lambda i: 5e7, [""]),
            ("process_open_fds", "gauge", lambda i: 20, [""]),
            ("process_start_time_seconds", "gauge", lambda i: end - 3600, [""]),
            ("up", "gauge", lambda i: 1, [""])):
        out.append(f"# TYPE {name} {typ}")
        for w in workers:
            for e in extra:
                series(name, w + e, value)
    out.append("# EOF")
    return "\n".join(out) + "\n"

def parse_on_prometheus():
    """Starts Prometheus on prometheus/prometheus.yml (and so the rules) with sample data of every
    metric (written with promtool), and sends it every dashboard expression: each must parse and
    return at least one series (so a misspelt label in a matcher or a `by` fails too)."""
    if os.environ.get("WEIR_CHECK_PROMETHEUS") == "0":
        print("deploy/check.sh: WEIR_CHECK_PROMETHEUS=0: the expressions are not sent to Prometheus")
        return
    server, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not server or not promtool:
        print("deploy/check.sh: no `prometheus` and `promtool` (Debian package prometheus): the expressions are not sent to a Prometheus")
        return
    addr = os.environ.get("WEIR_CHECK_PROMETHEUS_ADDR")
    if not addr:
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            addr = f"127.0.0.1:{sock.getsockname()[1]}"
    data = tempfile.mkdtemp(prefix="weir-check-prometheus-")
    end = int(time.time()) - 300
    with open(os.path.join(data, "samples.om"), "w") as f:
        f.write(sample_data(end))
    made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                           os.path.join(data, "samples.om"), os.path.join(data, "tsdb")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if made.returncode != 0:
        fail(f"promtool tsdb create-blocks-from openmetrics failed:\n{made.stdout[-2000:]}")
        shutil.rmtree(data, ignore_errors=True)
        return
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
                time.sleep(0.2)
                if proc.poll() is None:  # ours, not another server on the address
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
        for n, (where, expr, from_dashboard) in enumerate(exprs):
            if not from_dashboard:
                continue
            q = substitute(expr)
            body = urllib.parse.urlencode({"query": q, "time": str(end)}).encode()
            try:
                answer = json.load(urllib.request.urlopen(base + "/api/v1/query", data=body, timeout=10))
            except urllib.error.HTTPError as e:
                answer = json.load(e)
            sent += 1
            if answer.get("status") != "success":
                fail(f"{where}: Prometheus rejects {q!r}: {answer.get('error')}")
            elif not answer["data"]["result"] and "ALERTS" not in metric_names(expr):
                fail(f"{where}: no series from the sample data: {q!r}")
            else:
                for label in legends.get(n, []):
                    if any(label not in r["metric"] for r in answer["data"]["result"]):
                        fail(f"{where}: the legend names `{label}`, a label not in the answer to {q!r}")
        print(f"deploy/check.sh: {sent} dashboard expressions parsed and answered by Prometheus at {addr} "
              f"(sample data), {loaded} rules loaded")
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
