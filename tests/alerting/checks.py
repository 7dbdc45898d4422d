#!/usr/bin/env python3
"""Static checks of tracewarden's alerting, dashboards and deployment files.

Usage: checks.py CHECK   (run from anywhere; paths are relative to the repository root)

Each check prints what it looked at and exits 0 (pass) or 1 (fail, with the reasons).
tests/alerting/run.sh calls every check; this file holds the ones written in Python.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "alertmanager", "tracewarden-alerts.yml")
AM_CONFIG = os.path.join(ROOT, "alertmanager", "alertmanager.yml")
DASHBOARDS = os.path.join(ROOT, "grafana", "dashboards")
METRICS = os.path.join(ROOT, "tests", "alerting", "metrics.txt")
DS_REF = "${DS_PROMETHEUS}"

# Values that stand in for Grafana's template variables when a query is checked by promtool.
GRAFANA_SUBST = [
    (re.compile(r"\$__rate_interval|\$\{__rate_interval\}"), "5m"),
    (re.compile(r"\$__interval|\$\{__interval\}"), "1m"),
    (re.compile(r"\$__range|\$\{__range\}"), "1h"),
    (re.compile(r"\$__range_s|\$\{__range_s\}"), "3600"),
    (re.compile(r"\$\{?(instance|namespace|pod|container)\}?"), ".*"),
]

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2", "start", "end",
}


class Failed(Exception):
    pass


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def dashboards():
    out = {}
    for name in sorted(os.listdir(DASHBOARDS)):
        if name.endswith(".json"):
            with open(os.path.join(DASHBOARDS, name)) as f:
                out[name] = json.load(f)
    if not out:
        raise Failed(f"no dashboards in {DASHBOARDS}")
    return out


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def grafana_exprs(name, dash):
    """(where, PromQL) for every query in a dashboard: panel targets, annotations, variables."""
    for p in all_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" in t:
                yield f"{name} panel {p['id']} '{p.get('title')}' {t.get('refId')}", t["expr"]
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            yield f"{name} annotation '{a.get('name')}'", a["expr"]
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q or "", re.S)
        if m:
            yield f"{name} variable '{v['name']}' (label_values selector)", m.group(1)
        elif re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q or ""):
            continue  # label_values(label): no selector to check
        else:
            m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q or "", re.S)
            if m:
                yield f"{name} variable '{v['name']}' (query_result)", m.group(1)
            else:
                raise Failed(f"{name} variable '{v['name']}': unsupported query {q!r}")


def substitute(expr):
    for pat, val in GRAFANA_SUBST:
        expr = pat.sub(val, expr)
    if "$" in expr:
        raise Failed(f"unsubstituted template variable left in: {expr}")
    return expr


def metric_names(expr):
    """Metric names a PromQL expression reads (a conservative lexer, enough for our queries)."""
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)  # strings
    s = re.sub(r"\{[^{}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\[\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", s)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        word = m.group(0)
        rest = s[m.end():].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation
        if word.lower() in PROMQL_KEYWORDS:
            continue
        start = m.start()
        if start and (s[start - 1].isdigit() or s[start - 1] == "."):
            continue  # a number like 1e3 or a duration suffix
        names.add(word)
    return names


def promtool_check_exprs(items):
    """Run `promtool check rules` on a temporary file with one recording rule per expression."""
    rules = [{"record": f"check:expr_{i}", "expr": e} for i, (_, e) in enumerate(items)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}, f, sort_keys=False)
        path = f.name
    try:
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        lines = [r.stdout + r.stderr, "expressions (index: where):"]
        lines += [f"  {i}: {w}: {e}" for i, (w, e) in enumerate(items)]
        raise Failed("\n".join(lines))
    return len(items)


# --- checks -----------------------------------------------------------------------------------

def check_dashboards_structure():
    problems = []
    uids = {}
    for name, d in dashboards().items():
        where = name
        inputs = d.get("__inputs")
        if not (isinstance(inputs, list) and any(
                i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource"
                and i.get("pluginId") == "prometheus" for i in inputs)):
            problems.append(f"{where}: __inputs lacks the Prometheus data source input DS_PROMETHEUS")
        if len(inputs or []) != 1:
            problems.append(f"{where}: expected exactly one import input, got {len(inputs or [])}")
        req = d.get("__requires") or []
        req_ids = {(r.get("type"), r.get("id")) for r in req}
        for need in [("grafana", "grafana"), ("datasource", "prometheus")]:
            if need not in req_ids:
                problems.append(f"{where}: __requires lacks {need}")
        for key in ["title", "uid", "panels", "templating", "schemaVersion", "time"]:
            if key not in d:
                problems.append(f"{where}: missing key {key}")
        if d.get("id") is not None:
            problems.append(f"{where}: id must be null for import")
        if d.get("uid") in uids:
            problems.append(f"{where}: uid {d.get('uid')} also used by {uids[d['uid']]}")
        uids[d.get("uid")] = name
        ids = []
        for p in all_panels(d.get("panels", [])):
            ids.append(p.get("id"))
            if p.get("type") != "row":
                if ("panel", p.get("type")) not in req_ids:
                    problems.append(f"{where}: panel type {p.get('type')} not in __requires")
                if not p.get("targets"):
                    problems.append(f"{where}: panel {p.get('id')} '{p.get('title')}' has no query")
                refs = [t.get("refId") for t in p.get("targets", [])]
                if len(refs) != len(set(refs)):
                    problems.append(f"{where}: panel {p.get('id')} has duplicate refIds {refs}")
            g = p.get("gridPos") or {}
            if not all(k in g for k in "hwxy") or g.get("x", 0) + g.get("w", 0) > 24:
                problems.append(f"{where}: panel {p.get('id')} has a bad gridPos {g}")
        dup = sorted({i for i in ids if ids.count(i) > 1 or i is None}, key=str)
        if dup:
            problems.append(f"{where}: duplicate or missing panel ids {dup}")
        var_names = [v.get("name") for v in d.get("templating", {}).get("list", [])]
        want = ["DS_PROMETHEUS", "instance"]
        if d.get("uid") != "tracewarden-exporter-health":
            want += ["namespace", "pod", "container"]
        for v in want:
            if v not in var_names:
                problems.append(f"{where}: template variable {v} missing")
        print(f"  {name}: {len(ids)} panels, ids unique, variables {var_names}")
    if problems:
        raise Failed("\n".join(problems))


def check_dashboards_datasources():
    problems = []
    count = 0

    def walk(node, path):
        nonlocal count
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "datasource":
                    count += 1
                    uid = v.get("uid") if isinstance(v, dict) else v
                    typ = v.get("type") if isinstance(v, dict) else None
                    builtin = isinstance(v, dict) and typ == "grafana" and uid == "-- Grafana --"
                    if not builtin and (uid != DS_REF or typ not in (None, "prometheus")):
                        problems.append(f"{path}.datasource = {v!r} (want uid {DS_REF})")
                else:
                    walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    for name, d in dashboards().items():
        walk(d, name)
        for p in all_panels(d.get("panels", [])):
            if p.get("type") != "row" and "datasource" not in p:
                problems.append(f"{name}: panel {p.get('id')} has no datasource")
    print(f"  {count} data source references checked")
    if problems:
        raise Failed("\n".join(problems))


def check_dashboards_promql():
    items = []
    for name, d in dashboards().items():
        for where, expr in grafana_exprs(name, d):
            items.append((where, substitute(expr)))
    n = promtool_check_exprs(items)
    print(f"  {n} dashboard expressions parse (promtool check rules on a generated rules file)")


def check_dashboards_generated():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "grafana", "generate.py"), "--check"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Failed(r.stdout + r.stderr)
    print("  grafana/dashboards/*.json equal the output of grafana/generate.py")


def contract():
    with open(METRICS) as f:
        return {ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()}


def rule_exprs():
    out = []
    for g in load_yaml(RULES)["groups"]:
        for r in g["rules"]:
            out.append((f"rule {r.get('alert') or r.get('record')}", r["expr"]))
    return out


def recorded_names():
    return {r["record"] for g in load_yaml(RULES)["groups"] for r in g["rules"] if "record" in r}


def check_metric_names():
    allowed = contract() | recorded_names()
    # The lexer itself must find what it should, or this check proves nothing.
    probe = metric_names('sum by (a) (rate(x_total{a=~"b|c"}[5m])) / on (i) y offset 5m > 0.5 and z')
    if probe != {"x_total", "y", "z"}:
        raise Failed(f"metric-name lexer is broken: {probe}")
    used = {}
    items = rule_exprs()
    for name, d in dashboards().items():
        items += list(grafana_exprs(name, d))
    for where, expr in items:
        for m in metric_names(substitute(expr)):
            used.setdefault(m, []).append(where)
    unknown = {m: w for m, w in used.items() if m not in allowed}
    print(f"  {len(items)} expressions use {len(used)} metric names: " + ", ".join(sorted(used)))
    unused = sorted(contract() - set(used))
    if unused:
        print(f"  (contract names no dashboard or rule uses: {', '.join(unused)})")
    if unknown:
        raise Failed("\n".join(f"{m} is not in tests/alerting/metrics.txt; used by {w}"
                               for m, w in sorted(unknown.items())))


def alerts():
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"] if "alert" in r]


def check_rules_conventions():
    problems = []
    names = set()
    for r in alerts():
        a = r["alert"]
        if a in names:
            problems.append(f"{a}: duplicate alert name")
        names.add(a)
        sev = r.get("labels", {}).get("severity")
        if sev not in ("page", "ticket"):
            problems.append(f"{a}: severity {sev!r} is neither page nor ticket")
        ann = r.get("annotations", {})
        for k in ("summary", "description", "runbook_url"):
            if not ann.get(k):
                problems.append(f"{a}: annotation {k} missing")
        want = "README.md#runbook-" + a.lower()
        if ann.get("runbook_url") != want:
            problems.append(f"{a}: runbook_url {ann.get('runbook_url')!r}, want {want!r}")
        if "tracewarden_rule_matches_total" in r["expr"]:
            for lbl in ("rule", "container_name", "pod", "namespace"):
                if not re.search(r"by \([^)]*\b%s\b" % lbl, r["expr"]):
                    problems.append(f"{a}: the alert does not keep the label {lbl}")
    # Priority mapping: emergency/alert/critical page, error/warning ticket, the rest never alert.
    prio = {}
    for r in alerts():
        for m in re.finditer(r'priority=~"([^"]+)"', r["expr"]):
            for p in m.group(1).split("|"):
                prio.setdefault(p, set()).add(r["labels"]["severity"])
    want = {"emergency": {"page"}, "alert": {"page"}, "critical": {"page"},
            "error": {"ticket"}, "warning": {"ticket"}}
    if prio != want:
        problems.append(f"priority -> severity mapping is {prio}, want {want}")
    # Runbook sections exist.
    runbook = open(os.path.join(ROOT, "README.md")).read()
    for a in sorted(names):
        if not re.search(r"^#+ Runbook: %s\s*$" % re.escape(a), runbook, re.M):
            problems.append(f"{a}: no 'Runbook: {a}' section in README.md")
    print(f"  {len(names)} alerts: severities, annotations, runbook links and sections, "
          f"priority mapping {sorted(prio)}")
    if problems:
        raise Failed("\n".join(problems))


def check_routes_cover_rules():
    """Each alert's labels, sent through `amtool config routes test`, reach the receiver its severity wants."""
    want = {"page": "tracewarden-page", "ticket": "tracewarden-ticket"}
    problems = []
    for r in alerts():
        labels = dict(r.get("labels", {}))
        labels.update({"alertname": r["alert"], "rule": "Terminal shell in container",
                       "namespace": "prod", "pod": "web-0", "instance": "node1:9862"})
        # An alert asking for a response reaches the response receiver first, then its severity's.
        receivers = want[labels["severity"]]
        if "response" in labels:
            receivers = "tracewarden-response," + receivers
        args = ["amtool", "config", "routes", "test", f"--config.file={AM_CONFIG}",
                f"--verify.receivers={receivers}"]
        args += [f"{k}={v}" for k, v in labels.items()]
        res = subprocess.run(args, capture_output=True, text=True)
        got = res.stdout.strip()
        ok = res.returncode == 0 and got == receivers
        print(f"  {r['alert']} (severity={labels['severity']}) -> {got or '?'}"
              f" {'ok' if ok else 'WRONG'}")
        if not ok:
            problems.append(f"{r['alert']}: routed to {got!r} (rc {res.returncode}), want "
                            f"{receivers!r}: {res.stderr.strip()}")
    if problems:
        raise Failed("\n".join(problems))


def check_inhibition():
    """ExporterDown inhibits every other per-instance alert of the same instance, and only them."""
    cfg = load_yaml(AM_CONFIG)
    names = [r["alert"] for r in alerts()]
    rule = None
    for ir in cfg.get("inhibit_rules", []):
        if 'alertname="TracewardenExporterDown"' in ir.get("source_matchers", []):
            rule = ir
    if rule is None:
        raise Failed("no inhibit rule with source alertname=\"TracewardenExporterDown\"")
    if rule.get("equal") != ["instance"]:
        raise Failed(f"inhibition must be per instance, equal is {rule.get('equal')}")
    targets = [m for m in rule["target_matchers"] if m.startswith("alertname=~")]
    if len(targets) != 1:
        raise Failed(f"want one alertname=~ target matcher, got {rule['target_matchers']}")
    rx = re.compile(targets[0].split("=~", 1)[1].strip('"'))
    inhibited = sorted(n for n in names if rx.fullmatch(n))
    want = sorted(n for n in names if n not in ("TracewardenExporterDown", "TracewardenExporterAbsent"))
    print(f"  TracewardenExporterDown inhibits (same instance): {', '.join(inhibited)}")
    if inhibited != want:
        raise Failed(f"inhibited {inhibited}, want {want}")


def rewritten_am_config(base_url, out_path, smarthost="127.0.0.1:9"):
    """Copy alertmanager.yml with every receiver address pointed at base_url, and the SMTP
    smarthost at `smarthost` (by default the discard port on loopback: refused, never leaves)
    (tests only). A WeCom api_url is a base Alertmanager appends `gettoken` and `message/send`
    to, so it keeps its trailing slash."""
    cfg = load_yaml(AM_CONFIG)
    host = re.sub(r"^https?://", "", base_url).split("/")[0]

    def fix(node, path):
        if isinstance(node, dict):
            for k, v in list(node.items()):
                if k in ("url", "api_url", "slack_api_url") and isinstance(v, str):
                    node[k] = f"{base_url}/{path}{k}" + ("/" if v.endswith("/") else "")
                elif k in ("smtp_smarthost", "smarthost") and isinstance(v, str):
                    node[k] = smarthost
                else:
                    fix(v, f"{path}{node.get('name', k)}/" if k != "name" else path)
        elif isinstance(node, list):
            for v in node:
                fix(v, path)

    fix(cfg, "")
    cfg.setdefault("global", {})["smtp_require_tls"] = False
    with open(out_path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    text = open(out_path).read()
    for m in re.finditer(r"https?://([^/'\"\s]+)", text):
        if m.group(1) != host:
            raise Failed(f"rewritten config still points at {m.group(0)}")
    return out_path


def check_am_config_rewritable():
    with tempfile.TemporaryDirectory() as d:
        out = rewritten_am_config("http://127.0.0.1:1", os.path.join(d, "am.yml"))
        r = subprocess.run(["amtool", "check-config", out], capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed(r.stdout + r.stderr)
        urls = sorted(set(re.findall(r"(?:https?://|smarthost: )\S+", open(out).read())))
        print("  rewritten copy passes amtool check-config; addresses: " + ", ".join(urls))


def check_prometheusrule_equal():
    path = os.path.join(ROOT, "deploy", "kubernetes", "prometheusrule.yaml")
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    if len(docs) != 1 or docs[0].get("kind") != "PrometheusRule":
        raise Failed(f"{path}: want exactly one PrometheusRule document")
    pr = docs[0]
    if pr.get("apiVersion") != "monitoring.coreos.com/v1":
        raise Failed(f"apiVersion {pr.get('apiVersion')}")
    plain = load_yaml(RULES)
    if pr.get("spec") != plain:
        a = json.dumps(pr.get("spec"), indent=1, sort_keys=True).splitlines()
        b = json.dumps(plain, indent=1, sort_keys=True).splitlines()
        import difflib
        raise Failed("PrometheusRule spec differs from alertmanager/tracewarden-alerts.yml:\n"
                     + "\n".join(list(difflib.unified_diff(b, a, "rules file", "PrometheusRule",
                                                          lineterm=""))[:60]))
    n = sum(len(g["rules"]) for g in plain["groups"])
    print(f"  deploy/kubernetes/prometheusrule.yaml spec == alertmanager/tracewarden-alerts.yml "
          f"({len(plain['groups'])} groups, {n} rules)")



# --- deployment --------------------------------------------------------------------------------

K8S = os.path.join(ROOT, "deploy", "kubernetes")
COMPOSE_DIR = os.path.join(ROOT, "deploy", "compose")
SYSTEMD_UNIT = os.path.join(ROOT, "deploy", "systemd", "tracewarden.service")
ALLOWED_CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}


def k8s_objects():
    objs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")) and name != "kustomization.yaml":
            for d in yaml.safe_load_all(open(os.path.join(K8S, name))):
                if d:
                    objs[(d["kind"], d["metadata"]["name"])] = (name, d)
    return objs


def check_k8s_consistency():
    problems = []
    objs = k8s_objects()

    def get(kind, name="tracewarden"):
        if (kind, name) not in objs:
            raise Failed(f"no {kind}/{name} in deploy/kubernetes")
        return objs[(kind, name)][1]

    kust = load_yaml(os.path.join(K8S, "kustomization.yaml"))
    files = sorted({f for f, _ in objs.values()})
    if sorted(kust.get("resources", [])) != files:
        problems.append(f"kustomization resources {sorted(kust.get('resources', []))} != files {files}")
    for (kind, name), (f, d) in objs.items():
        if kind != "Namespace" and d["metadata"].get("namespace") != "tracewarden":
            problems.append(f"{kind}/{name}: namespace {d['metadata'].get('namespace')!r}")

    ds = get("DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    sel = ds["spec"]["selector"]["matchLabels"]
    if any(pod_labels.get(k) != v for k, v in sel.items()):
        problems.append("DaemonSet selector does not match its pod labels")
    if pod.get("hostPID") is not True:
        problems.append("DaemonSet: hostPID must be true")
    if pod.get("hostNetwork"):
        problems.append("DaemonSet: hostNetwork is not needed")
    if pod.get("serviceAccountName") != get("ServiceAccount")["metadata"]["name"]:
        problems.append("DaemonSet: serviceAccountName is not the shipped ServiceAccount")
    (c,) = pod["containers"]
    sc = c.get("securityContext", {})
    if sc.get("privileged") is not False:
        problems.append("container: privileged must be false")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append("container: allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append("container: readOnlyRootFilesystem must be true")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        problems.append(f"container: capabilities.drop must be [ALL], is {caps.get('drop')}")
    add = set(caps.get("add", []))
    if not {"BPF", "PERFMON"} <= add or not add <= ALLOWED_CAPS:
        problems.append(f"container: capabilities.add {sorted(add)} must contain BPF and PERFMON "
                        f"and stay within {sorted(ALLOWED_CAPS)}")
    res = c.get("resources", {})
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(k, {}):
                problems.append(f"container: resources.{k}.{r} missing")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    want_host = {"/sys/kernel/btf": "/sys/kernel/btf", "/sys/kernel/tracing": "/sys/kernel/tracing",
                 "/sys/fs/cgroup": "/sys/fs/cgroup", "/sys/fs/bpf": "/sys/fs/bpf",
                 "/proc": "/host/proc", "/run": "/run"}
    for host, mp in want_host.items():
        m = mounts.get(mp)
        hp = m and vols.get(m["name"], {}).get("hostPath", {}).get("path")
        if hp != host:
            problems.append(f"host path {host} is not mounted at {mp}")
    for mp, m in mounts.items():
        v = vols.get(m["name"])
        if v is None:
            problems.append(f"mount {mp}: no volume {m['name']}")
        elif "hostPath" in v and m.get("readOnly") is not True and mp != "/sys/fs/bpf":
            # bpffs is the one host path written: the pinned counters (--bpf.pin-dir).
            problems.append(f"mount {mp}: host path mounted read-write")
    rules_mount = [m for m in c["volumeMounts"] if "configMap" in vols.get(m["name"], {})]
    cm = get("ConfigMap", "tracewarden-rules")
    if len(rules_mount) != 1 or vols[rules_mount[0]["name"]]["configMap"]["name"] != cm["metadata"]["name"]:
        problems.append("the rules ConfigMap is not mounted exactly once")
    else:
        rd = rules_mount[0]["mountPath"]
        if f"--rules-dir={rd}" not in c.get("args", []):
            problems.append(f"args lack --rules-dir={rd}: {c.get('args')}")
        if rd != "/etc/tracewarden/rules":
            problems.append(f"rules mounted at {rd}, want /etc/tracewarden/rules")
    for key, text in cm.get("data", {}).items():
        if not key.endswith((".yaml", ".yml")):
            problems.append(f"ConfigMap key {key}: the exporter reads *.yaml/*.yml only")
        items = yaml.safe_load(text)
        kinds = ("rule", "macro", "list", "required_engine_version")
        if (not isinstance(items, list) or not all(any(k in i for k in kinds) for i in items)
                or not any("rule" in i and "priority" in i for i in items)):
            problems.append(f"ConfigMap key {key}: not a Falco rules file with at least one rule")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}

    svc = get("Service")
    if any(pod_labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        problems.append("Service selector does not match the DaemonSet's pods")
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for p in svc_ports.values():
        if p["targetPort"] not in ports:
            problems.append(f"Service targetPort {p['targetPort']} is no container port")
    sm = get("ServiceMonitor")
    if any(svc["metadata"]["labels"].get(k) != v for k, v in sm["spec"]["selector"]["matchLabels"].items()):
        problems.append("ServiceMonitor selector does not match the Service labels")
    if svc["metadata"]["name"] != "tracewarden":
        problems.append("Service name (= Prometheus job) must be tracewarden")
    for ep in sm["spec"]["endpoints"]:
        if ep.get("port") not in svc_ports:
            problems.append(f"ServiceMonitor endpoint port {ep.get('port')} not on the Service")
        drops = [r for r in ep.get("relabelings", []) if r.get("action") == "labeldrop"]
        if not any(re.fullmatch(r.get("regex", ""), "namespace") and re.fullmatch(r.get("regex", ""), "pod")
                   for r in drops):
            problems.append("ServiceMonitor must drop the target's namespace and pod labels")
    print(f"  {len(objs)} objects; DaemonSet caps {sorted(add)}, hostPID, read-only root and host "
          f"mounts (bpffs writable, for the pinned counters), rules at /etc/tracewarden/rules; Service/ServiceMonitor/ConfigMap wiring")
    if problems:
        raise Failed("\n".join(problems))


def unit_settings(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_systemd_unit():
    s = unit_settings(SYSTEMD_UNIT)
    problems = []
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
            "PrivateTmp": "yes"}
    for k, v in want.items():
        if s.get(k) != [v]:
            problems.append(f"{k}={s.get(k)}, want {v}")
    exec_start = s.get("ExecStart", [""])[0].split()
    if exec_start[:3] != ["/usr/local/bin/exporter", "--rules-dir", "/etc/tracewarden/rules"]:
        problems.append(f"ExecStart {exec_start}")
    ds = k8s_objects()[("DaemonSet", "tracewarden")][1]
    ds_caps = {"CAP_" + c for c in ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]}
    for k in ("CapabilityBoundingSet", "AmbientCapabilities"):
        caps = set(" ".join(s.get(k, [])).split())
        if caps != ds_caps:
            problems.append(f"{k} {sorted(caps)} differs from the DaemonSet's {sorted(ds_caps)}")
    print(f"  capabilities {sorted(ds_caps)} (same as the DaemonSet), NoNewPrivileges, "
          f"ProtectSystem=strict, ProtectHome, PrivateTmp, ExecStart {' '.join(exec_start[:3])}")
    if problems:
        raise Failed("\n".join(problems))


def compose_mounts(svc):
    """(host path, container path) of each bind mount of a compose service."""
    out = []
    for v in svc.get("volumes", []):
        parts = v.split(":")
        if parts[0].startswith((".", "/")):
            out.append((os.path.normpath(os.path.join(COMPOSE_DIR, parts[0])), parts[1]))
    return out


def host_path(mounts, cpath):
    for h, c in mounts:
        if cpath == c or cpath.startswith(c.rstrip("/") + "/"):
            return h + cpath[len(c):]
    return None


def check_compose():
    problems = []
    comp = load_yaml(os.path.join(COMPOSE_DIR, "docker-compose.yml"))
    services = comp.get("services", {})
    for need in ("prometheus", "alertmanager", "grafana"):
        if need not in services:
            problems.append(f"service {need} missing")
    for name, svc in services.items():
        for h, c in compose_mounts(svc):
            if not os.path.exists(h):
                problems.append(f"{name}: bind mount source {os.path.relpath(h, ROOT)} does not exist")
        for p in svc.get("ports", []):
            if not str(p).startswith("127.0.0.1:"):
                problems.append(f"{name}: port {p} is not bound to 127.0.0.1")
        if "image" in svc and (":" not in svc["image"] or svc["image"].endswith(":latest")):
            problems.append(f"{name}: image {svc['image']} is not pinned")
    if problems:
        raise Failed("\n".join(problems))

    # Prometheus: the config with its container paths mapped to the repository, by promtool.
    pm = compose_mounts(services["prometheus"])
    cfg_path = host_path(pm, "/etc/prometheus/prometheus.yml")
    cfg = load_yaml(cfg_path)
    rule_files = []
    for rf in cfg.get("rule_files", []):
        h = host_path(pm, rf)
        if h is None or not os.path.exists(h):
            problems.append(f"prometheus rule file {rf} is not mounted from the repository")
        rule_files.append(h)
    if os.path.realpath(RULES) not in [os.path.realpath(r) for r in rule_files if r]:
        problems.append("Prometheus does not load alertmanager/tracewarden-alerts.yml")
    if not any(j.get("job_name") == "tracewarden" for j in cfg.get("scrape_configs", [])):
        problems.append("no scrape job named tracewarden")
    cfg["rule_files"] = rule_files
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(cfg, f)
        tmp = f.name
    try:
        r = subprocess.run(["promtool", "check", "config", tmp], capture_output=True, text=True)
    finally:
        os.unlink(tmp)
    if r.returncode != 0:
        problems.append("promtool check config (container paths mapped):\n" + r.stdout + r.stderr)

    am = host_path(compose_mounts(services["alertmanager"]), "/etc/alertmanager/alertmanager.yml")
    if not am or os.path.realpath(am) != os.path.realpath(AM_CONFIG):
        problems.append("Alertmanager does not run alertmanager/alertmanager.yml")

    gm = compose_mounts(services["grafana"])
    prov = host_path(gm, "/etc/grafana/provisioning")
    ds = load_yaml(os.path.join(prov, "datasources", "prometheus.yml"))
    proms = [d for d in ds.get("datasources", []) if d.get("type") == "prometheus"]
    if len(proms) != 1 or not proms[0].get("isDefault"):
        problems.append("Grafana needs exactly one default Prometheus data source")
    elif re.sub(r"^https?://", "", proms[0]["url"]).split(":")[0] not in services:
        problems.append(f"Grafana data source url {proms[0]['url']} is no compose service")
    dp = load_yaml(os.path.join(prov, "dashboards", "tracewarden.yml"))
    for p in dp.get("providers", []):
        h = host_path(gm, p["options"]["path"])
        jsons = sorted(x for x in os.listdir(h) if x.endswith(".json")) if h and os.path.isdir(h) else []
        if not h or os.path.realpath(h) != os.path.realpath(DASHBOARDS) or not jsons:
            problems.append(f"dashboard provider path {p['options']['path']} is not grafana/dashboards")
        else:
            print(f"  Grafana provisions {', '.join(jsons)} from grafana/dashboards")
    print(f"  services {', '.join(services)}; bind mounts exist; ports on 127.0.0.1; images pinned; "
          f"promtool check config passes with the rules mounted from alertmanager/")
    if problems:
        raise Failed("\n".join(problems))

def check_runbook_base_settable():
    """alertmanager/set-runbook-base.sh, run on a copy, points every link at the base given and
    keeps the PrometheusRule equal to the rules file."""
    base = "https://git.example.com/sec/tracewarden/-/blob/main"
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("alertmanager", os.path.join("deploy", "kubernetes")):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d))
        subprocess.run([os.path.join(tmp, "alertmanager", "set-runbook-base.sh"), base + "/"], check=True)
        rules = load_yaml(os.path.join(tmp, "alertmanager", "tracewarden-alerts.yml"))
        spec = load_yaml(os.path.join(tmp, "deploy", "kubernetes", "prometheusrule.yaml"))["spec"]
    problems = []
    for r in (r for g in rules["groups"] for r in g["rules"] if "alert" in r):
        want = f"{base}/README.md#runbook-{r['alert'].lower()}"
        if r["annotations"]["runbook_url"] != want:
            problems.append(f"{r['alert']}: runbook_url {r['annotations']['runbook_url']!r}, want {want!r}")
    if spec != rules:
        problems.append("the PrometheusRule was not regenerated from the rewritten rules")
    print(f"  links rewritten to {base}/README.md#runbook-...")
    if problems:
        raise Failed("\n".join(problems))


CHECKS = {
    "dashboards-structure": check_dashboards_structure,
    "dashboards-datasources": check_dashboards_datasources,
    "dashboards-promql": check_dashboards_promql,
    "dashboards-generated": check_dashboards_generated,
    "metric-names": check_metric_names,
    "rules-conventions": check_rules_conventions,
    "runbook-base-settable": check_runbook_base_settable,
    "routes-cover-rules": check_routes_cover_rules,
    "inhibition": check_inhibition,
    "am-config-rewritable": check_am_config_rewritable,
    "prometheusrule-equal": check_prometheusrule_equal,
    "k8s-consistency": check_k8s_consistency,
    "systemd-unit": check_systemd_unit,
    "compose": check_compose,
}


def main(argv):
    if len(argv) == 3 and argv[0] == "rewrite-am-config":
        rewritten_am_config(argv[1], argv[2])
        return 0
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: checks.py {{{'|'.join(CHECKS)}}} | rewrite-am-config BASE_URL OUT",
              file=sys.stderr)
        return 2
    try:
        CHECKS[argv[0]]()
    except Failed as e:
        print(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
