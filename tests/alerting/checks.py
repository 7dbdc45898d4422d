#!/usr/bin/env python3
"""Static checks of tracewarden's alerting, dashboards and deployment files.

Usage: checks.py CHECK   (run from anywhere; paths are relative to the repository root)

Each check prints what it looked at and exits 0 (pass) or 1 (fail, with the reasons).
tests/alerting/run.sh calls every check; this file holds the ones written in Python.
"""
import json
import os
import re
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
        want = ("https://github.com/tracewarden/tracewarden/blob/main/README.md#runbook-"
                + a.lower())
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
    runbook = open(os.path.join(ROOT, "alertmanager", "RUNBOOK.md")).read()
    for a in sorted(names):
        if not re.search(r"^#+ Runbook: %s\s*$" % re.escape(a), runbook, re.M):
            problems.append(f"{a}: no '## Runbook: {a}' section in alertmanager/RUNBOOK.md")
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
        args = ["amtool", "config", "routes", "test", f"--config.file={AM_CONFIG}",
                f"--verify.receivers={want[labels['severity']]}"]
        args += [f"{k}={v}" for k, v in labels.items()]
        res = subprocess.run(args, capture_output=True, text=True)
        got = res.stdout.strip()
        ok = res.returncode == 0 and got == want[labels["severity"]]
        print(f"  {r['alert']} (severity={labels['severity']}) -> {got or '?'}"
              f" {'ok' if ok else 'WRONG'}")
        if not ok:
            problems.append(f"{r['alert']}: routed to {got!r} (rc {res.returncode}), want "
                            f"{want[labels['severity']]!r}: {res.stderr.strip()}")
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


def rewritten_am_config(base_url, out_path):
    """Copy alertmanager.yml with every receiver address pointed at base_url (tests only)."""
    cfg = load_yaml(AM_CONFIG)
    host = re.sub(r"^https?://", "", base_url).split("/")[0]

    def fix(node, path):
        if isinstance(node, dict):
            for k, v in list(node.items()):
                if k in ("url", "api_url", "slack_api_url") and isinstance(v, str):
                    node[k] = f"{base_url}/{path}{k}"
                elif k in ("smtp_smarthost", "smarthost") and isinstance(v, str):
                    node[k] = "127.0.0.1:9"  # discard port on loopback: refused, never leaves
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


CHECKS = {
    "dashboards-structure": check_dashboards_structure,
    "dashboards-datasources": check_dashboards_datasources,
    "dashboards-promql": check_dashboards_promql,
    "dashboards-generated": check_dashboards_generated,
    "metric-names": check_metric_names,
    "rules-conventions": check_rules_conventions,
    "routes-cover-rules": check_routes_cover_rules,
    "inhibition": check_inhibition,
    "am-config-rewritable": check_am_config_rewritable,
    "prometheusrule-equal": check_prometheusrule_equal,
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
