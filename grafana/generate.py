#!/usr/bin/env python3
"""Generate tracewarden's Grafana dashboards (grafana/dashboards/*.json).

The JSON files are what users import (Dashboards -> New -> Import, or file provisioning); this
script is their source, so panels stay consistent. After editing it run

    python3 grafana/generate.py

and commit the JSON: tests/alerting/run.sh fails when the committed JSON differs from the output.

Every data source reference is the import input ${DS_PROMETHEUS}. The dashboards also define a
data source template variable of the same name, so a dashboard that is *provisioned* from a file
(where Grafana does not process __inputs) still resolves ${DS_PROMETHEUS} to a Prometheus data
source, while the import dialog still asks for one.
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRAFANA_MIN = "10.0.0"
JOB = 'job="tracewarden"'

# Label filters built from the template variables.
INST = 'instance=~"$instance"'
CONT = 'instance=~"$instance", namespace=~"$namespace", pod=~"$pod", container_name=~"$container"'
PAGE = 'priority=~"emergency|alert|critical"'
TICKET = 'priority=~"error|warning"'

PRIORITY_COLORS = {
    "emergency": "dark-red", "alert": "red", "critical": "orange", "error": "yellow",
    "warning": "light-yellow", "notice": "blue", "informational": "light-blue", "debug": "text",
}


class Layout:
    """Assigns unique ids and a left-to-right, top-to-bottom grid position to panels."""

    def __init__(self):
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_h = 0

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        self.place(panel, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0
        return panel


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref,
         "range": not instant, "instant": instant, "format": fmt, "editorMode": "code"}
    return t


def timeseries(title, targets, unit="short", desc="", stack=False, overrides=None):
    return {
        "type": "timeseries", "title": title, "description": desc, "datasource": DS,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 15 if stack else 0,
                           "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                           "showPoints": "never", "spanNulls": False},
                "color": {"mode": "palette-classic"},
            },
            "overrides": overrides or [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                               "calcs": ["max", "lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title, expr, unit="short", desc="", thresholds=None, mappings=None, color_mode="value"):
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat", "title": title, "description": desc, "datasource": DS,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                     "thresholds": {"mode": "absolute", "steps": steps},
                                     "color": {"mode": "thresholds"}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": color_mode, "graphMode": "none", "textMode": "auto",
                    "justifyMode": "auto", "orientation": "auto"},
    }


def table(title, expr, desc="", hide=(), rename=None, unit="short", sort_by="Value"):
    excl = {"Time": True}
    excl.update({k: True for k in hide})
    return {
        "type": "table", "title": title, "description": desc, "datasource": DS,
        "targets": [target(expr, instant=True, fmt="table")],
        "transformations": [{"id": "organize", "options": {"excludeByName": excl,
                                                            "renameByName": rename or {}}}],
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"align": "auto"}}, "overrides": []},
        "options": {"showHeader": True, "sortBy": [{"displayName": sort_by, "desc": True}],
                    "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
    }


def bargauge(title, targets, unit="percentunit", desc="", maxv=1):
    return {
        "type": "bargauge", "title": title, "description": desc, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "min": 0, "max": maxv,
                                     "thresholds": {"mode": "absolute", "steps": [
                                         {"color": "green", "value": None},
                                         {"color": "orange", "value": 0.75 * maxv},
                                         {"color": "red", "value": 0.9 * maxv}]},
                                     "color": {"mode": "thresholds"}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True},
    }


def priority_overrides():
    return [{"matcher": {"id": "byName", "options": p},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]}
            for p, c in PRIORITY_COLORS.items()]


def var_datasource():
    return {"name": "DS_PROMETHEUS", "label": "Data source", "type": "datasource",
            "query": "prometheus", "hide": 0, "refresh": 1, "regex": "", "current": {},
            "options": [], "includeAll": False, "multi": False}


def var_query(name, label, query, multi=True, include_all=True):
    v = {"name": name, "label": label, "type": "query", "datasource": DS,
         "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
         "definition": query, "refresh": 2, "sort": 1, "regex": "", "hide": 0,
         "multi": multi, "includeAll": include_all, "current": {}, "options": []}
    if include_all:
        # ".*" also matches the empty label of host processes (no pod, no namespace).
        v["allValue"] = ".*"
    return v


def container_vars(single_container=False):
    return [
        var_datasource(),
        var_query("instance", "Node (exporter)", "label_values(tracewarden_build_info, instance)"),
        var_query("namespace", "Namespace",
                  'label_values(tracewarden_syscalls_total{instance=~"$instance"}, namespace)'),
        var_query("pod", "Pod",
                  'label_values(tracewarden_syscalls_total{instance=~"$instance", '
                  'namespace=~"$namespace"}, pod)'),
        var_query("container", "Container",
                  'label_values(tracewarden_syscalls_total{instance=~"$instance", '
                  'namespace=~"$namespace", pod=~"$pod"}, container_name)',
                  multi=not single_container, include_all=not single_container),
    ]


def dashboard(uid, title, desc, panels, variables, panel_types, annotations=()):
    requires = [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_MIN},
                {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}]
    names = {"timeseries": "Time series", "stat": "Stat", "table": "Table",
             "bargauge": "Bar gauge"}
    for t in sorted(panel_types):
        requires.append({"type": "panel", "id": t, "name": names[t], "version": ""})
    ann = [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]
    ann.extend(annotations)
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description":
                      "Prometheus that scrapes tracewarden (job=\"tracewarden\")",
                      "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": requires,
        "annotations": {"list": ann},
        "description": desc,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"title": "tracewarden dashboards", "type": "dashboards", "tags": ["tracewarden"],
                   "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
                   "targetBlank": False, "tooltip": "", "url": ""}],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": 38,
        "tags": ["tracewarden", "security", "ebpf"],
        "templating": {"list": variables},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def overview():
    L = Layout()
    p = [
        L.row("Rule violations"),
        L.place(stat("Paging violations (range)",
                     f'sum(increase(tracewarden_rule_matches_total{{{CONT}, {PAGE}}}[$__range])) or vector(0)',
                     desc="Matches of emergency, alert and critical rules in the time range: each pages on-call.",
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
                     color_mode="background"), 6, 4),
        L.place(stat("Ticket violations (range)",
                     f'sum(increase(tracewarden_rule_matches_total{{{CONT}, {TICKET}}}[$__range])) or vector(0)',
                     desc="Matches of error and warning rules in the time range.",
                     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
                     color_mode="background"), 6, 4),
        L.place(stat("Containers watched",
                     f'count(count by (container_id) (tracewarden_syscalls_total{{{CONT}}}))',
                     desc="Distinct containers (and the host) with syscall counters now."), 6, 4),
        L.place(stat("Exporters up",
                     f'sum(up{{{JOB}, {INST}}})',
                     desc="tracewarden targets Prometheus scrapes successfully.",
                     thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
                6, 4),
        L.place(timeseries("Violations by priority",
                           [target(f'sum by (priority) (increase(tracewarden_rule_matches_total{{{CONT}}}[$__rate_interval]))',
                                   "{{priority}}")],
                           desc="Rule matches per interval, by Falco priority.", stack=True,
                           overrides=priority_overrides()), 24, 8),
        L.place(table("Top rules (range)",
                      f'topk(10, sum by (rule, priority) (increase(tracewarden_rule_matches_total{{{CONT}}}[$__range])) > 0)',
                      desc="The 10 rules with the most matches in the time range.",
                      rename={"Value": "Matches"}, sort_by="Matches"), 12, 9),
        L.place(table("Top containers by violations (range)",
                      f'topk(10, sum by (namespace, pod, container_name) (increase(tracewarden_rule_matches_total{{{CONT}}}[$__range])) > 0)',
                      desc="The 10 containers with the most rule matches in the time range.",
                      rename={"Value": "Matches", "container_name": "container"},
                      sort_by="Matches"), 12, 9),
        L.row("Behaviour baseline"),
        L.place(stat("Profiles enforcing",
                     f'sum(tracewarden_baseline_profiles{{{INST}, state="enforcing"}}) or vector(0)',
                     desc="Container images whose learned profile is enforced (--baseline.dir); the others still learn."),
                4, 8),
        L.place(timeseries("Baseline deviations by kind",
                           [target(f'sum by (kind) (increase(tracewarden_baseline_deviations_total{{{CONT}}}[$__rate_interval]))',
                                   "{{kind}}")],
                           desc="Behaviour outside an image's learned profile per interval, by kind (exec, write, read, connect, listen, syscall). Each new item is alerted once as 'Baseline deviation: <kind>'.",
                           stack=True), 10, 8),
        L.place(table("Containers deviating from their image's baseline (range)",
                      f'topk(10, sum by (namespace, pod, container_name, image, kind) (increase(tracewarden_baseline_deviations_total{{{CONT}}}[$__range])) > 0)',
                      desc="The 10 (container, kind) pairs with the most deviations in the time range. Review with `exporter baseline show IMAGE`.",
                      rename={"Value": "Deviations", "container_name": "container"}, sort_by="Deviations"), 10, 8),
        L.row("Syscalls"),
        L.place(timeseries("Syscall rate by container",
                           [target(f'sum by (namespace, pod, container_name) (rate(tracewarden_syscalls_total{{{CONT}}}[$__rate_interval]))',
                                   "{{namespace}}/{{pod}}/{{container_name}}")],
                           unit="ops", desc="System calls per second, per container (host processes have empty pod and namespace)."),
                24, 9),
        L.place(timeseries("Syscall rate by syscall (top 10)",
                           [target(f'topk(10, sum by (syscall) (rate(tracewarden_syscalls_total{{{CONT}}}[$__rate_interval])))',
                                   "{{syscall}}")],
                           unit="ops", desc="The busiest system calls across the selected containers."),
                24, 8),
    ]
    types = {q["type"] for q in p if q["type"] != "row"}
    return dashboard("tracewarden-overview", "tracewarden / Overview",
                     "Runtime-security rule violations and syscall activity across nodes and containers.",
                     p, container_vars(), types)


def container():
    L = Layout()
    p = [
        L.row("Container"),
        L.place(table("Container identity",
                      f'count by (container_id, image, namespace, pod, container_name, instance) (tracewarden_syscalls_total{{{CONT}}})',
                      desc="Where the selected container runs.", hide=("Value",)), 24, 4),
        L.place(stat("Syscalls/s",
                     f'sum(rate(tracewarden_syscalls_total{{{CONT}}}[$__rate_interval]))', unit="ops"), 6, 4),
        L.place(stat("Rule matches (range)",
                     f'sum(increase(tracewarden_rule_matches_total{{{CONT}}}[$__range])) or vector(0)',
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
                     color_mode="background"), 6, 4),
        L.place(stat("Paging matches (range)",
                     f'sum(increase(tracewarden_rule_matches_total{{{CONT}, {PAGE}}}[$__range])) or vector(0)',
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
                     color_mode="background"), 6, 4),
        L.place(stat("Distinct syscalls",
                     f'count(sum by (syscall) (rate(tracewarden_syscalls_total{{{CONT}}}[$__rate_interval])) > 0)'), 6, 4),
        L.row("Syscalls"),
        L.place(timeseries("Syscalls by name",
                           [target(f'sum by (syscall) (rate(tracewarden_syscalls_total{{{CONT}}}[$__rate_interval]))',
                                   "{{syscall}}")],
                           unit="ops", desc="System calls per second of this container, by syscall.",
                           stack=True), 16, 10),
        L.place(table("Syscalls (range)",
                      f'sort_desc(sum by (syscall) (increase(tracewarden_syscalls_total{{{CONT}}}[$__range])))',
                      rename={"Value": "Calls"}, sort_by="Calls"), 8, 10),
        L.row("Rule hits and alerts"),
        L.place(timeseries("Rule hits over time",
                           [target(f'sum by (rule, priority) (increase(tracewarden_rule_matches_total{{{CONT}}}[$__rate_interval]))',
                                   "{{rule}} ({{priority}})")],
                           desc="Rule matches per interval in this container."), 24, 9),
        L.place(table("Rule hits (range)",
                      f'sum by (rule, priority) (increase(tracewarden_rule_matches_total{{{CONT}}}[$__range])) > 0',
                      rename={"Value": "Matches"}, sort_by="Matches"), 12, 8),
        L.place(table("Alerts firing for this container",
                      f'ALERTS{{alertstate="firing", alertname=~"TracewardenRuleViolation.*", {CONT}}}',
                      desc="Prometheus alerts (alertmanager/tracewarden-alerts.yml) now firing for this container.",
                      hide=("Value", "__name__", "alertstate")), 12, 8),
    ]
    types = {q["type"] for q in p if q["type"] != "row"}
    events = {"datasource": DS, "enable": True, "hide": False, "iconColor": "red",
              "name": "Rule violation alerts", "titleFormat": "{{alertname}}",
              "textFormat": "{{rule}} ({{priority}})", "tagKeys": "rule,priority,severity",
              "expr": f'ALERTS{{alertstate="firing", alertname=~"TracewardenRuleViolation.*", {CONT}}}',
              "step": "60s", "useValueForTime": False}
    return dashboard("tracewarden-container", "tracewarden / Container",
                     "One container: its syscalls by name, its rule hits and its alerts.",
                     p, container_vars(single_container=True), types, annotations=[events])


def health():
    L = Layout()
    I = INST
    p = [
        L.row("Exporter"),
        L.place(stat("Up", f'min(up{{{JOB}, {I}}})', mappings=[
            {"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                          "1": {"text": "UP", "color": "green"}}}],
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
            color_mode="background"), 4, 4),
        L.place(stat("Rules loaded", f'min(tracewarden_rules_loaded{{{I}}})',
                     thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]), 4, 4),
        L.place(stat("Since last good reload",
                     f'max(time() - tracewarden_rules_last_reload_success_timestamp_seconds{{{I}}})',
                     unit="s"), 4, 4),
        L.place(stat("Failed reloads (range)",
                     f'sum(increase(tracewarden_rules_reloads_total{{{I}, result="failure"}}[$__range])) or vector(0)',
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
                     color_mode="background"), 4, 4),
        L.place(stat("Events lost (range)",
                     f'sum(increase(tracewarden_events_lost_total{{{I}}}[$__range])) or vector(0)',
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
                     color_mode="background"), 4, 4),
        L.place(stat("Uptime", f'min(time() - process_start_time_seconds{{{JOB}, {I}}})', unit="s"), 4, 4),
        L.row("Events and loss"),
        L.place(timeseries("Events by source",
                           [target(f'sum by (instance, source) (rate(tracewarden_events_total{{{I}}}[$__rate_interval]))',
                                   "{{instance}} {{source}}")],
                           unit="ops", desc="kernel: decided and counted in eBPF; userspace: sent to the evaluator."),
                12, 8),
        L.place(timeseries("Events lost and kernel drops",
                           [target(f'sum by (instance, reason) (rate(tracewarden_events_lost_total{{{I}}}[$__rate_interval]))',
                                   "lost {{instance}} {{reason}}"),
                            target(f'sum by (instance, reason) (rate(tracewarden_kernel_dropped_total{{{I}}}[$__rate_interval]))',
                                   "dropped {{instance}} {{reason}}", ref="B")],
                           unit="ops", desc="Any non-zero value may hide detections: see the runbook."),
                12, 8),
        L.row("Kernel maps"),
        L.place(bargauge("Map fill",
                         [target(f'max by (instance, map) (tracewarden_kernel_map_entries{{{I}}} / (tracewarden_kernel_map_capacity{{{I}}} > 0))',
                                 "{{instance}} {{map}}", instant=True)],
                         desc="Entries / capacity of each kernel map; the alert fires above 90%."), 12, 8),
        L.place(timeseries("Map fill over time",
                           [target(f'max by (instance, map) (tracewarden_kernel_map_entries{{{I}}} / (tracewarden_kernel_map_capacity{{{I}}} > 0))',
                                   "{{instance}} {{map}}")],
                           unit="percentunit"), 12, 8),
        L.row("Rules"),
        L.place(timeseries("Rule reloads",
                           [target(f'sum by (instance, result) (increase(tracewarden_rules_reloads_total{{{I}}}[$__rate_interval]))',
                                   "{{instance}} {{result}}")],
                           desc="Reloads per interval by result."), 12, 8),
        L.place(table("Rules files",
                      f'tracewarden_rules_file_info{{{I}}}', desc="Loaded rules files and their SHA-256.",
                      hide=("Value", "__name__", "job")), 12, 8),
        L.row("Scrape and process"),
        L.place(timeseries("/metrics build time",
                           [target(f'tracewarden_scrape_duration_seconds{{{I}}}', "{{instance}} exporter"),
                            target(f'scrape_duration_seconds{{{JOB}, {I}}}', "{{instance}} Prometheus scrape", ref="B")],
                           unit="s", desc="Time the exporter needs to build /metrics, and the whole scrape as Prometheus sees it."),
                12, 8),
        L.place(timeseries("CPU",
                           [target(f'rate(process_cpu_seconds_total{{{JOB}, {I}}}[$__rate_interval])', "{{instance}}")],
                           unit="percentunit", desc="Exporter CPU in cores (1 = 100% of one core)."), 12, 8),
        L.place(timeseries("Resident memory",
                           [target(f'process_resident_memory_bytes{{{JOB}, {I}}}', "{{instance}}")],
                           unit="bytes"), 12, 8),
        L.place(timeseries("Open file descriptors",
                           [target(f'process_open_fds{{{JOB}, {I}}}', "{{instance}}")]), 12, 8),
        L.row("Alert outputs"),
        L.place(timeseries("Alert outputs",
                           [target(f'sum by (output) (rate(tracewarden_alert_outputs_sent_total{{{I}}}[$__rate_interval]))',
                                   "sent {{output}}"),
                            target(f'sum by (output) (rate(tracewarden_alert_outputs_failed_total{{{I}}}[$__rate_interval]))',
                                   "failed {{output}}", ref="B"),
                            target(f'sum by (output) (rate(tracewarden_alert_outputs_dropped_total{{{I}}}[$__rate_interval]))',
                                   "dropped {{output}}", ref="C")],
                           unit="ops", desc="Alert events delivered, failed and dropped per output."), 12, 8),
        L.place(timeseries("Suppressed alert events by rule",
                           [target(f'sum by (rule) (rate(tracewarden_alerts_suppressed_total{{{I}}}[$__rate_interval]))',
                                   "{{rule}}")],
                           unit="ops", desc="Alert events held back by the per-(rule, container) rate limit; counters still count them."),
                12, 8),
        L.place(table("Build", f'tracewarden_build_info{{{I}}}', hide=("Value", "__name__", "job")), 24, 5),
    ]
    types = {q["type"] for q in p if q["type"] != "row"}
    variables = [var_datasource(),
                 var_query("instance", "Node (exporter)", "label_values(tracewarden_build_info, instance)")]
    return dashboard("tracewarden-exporter-health", "tracewarden / Exporter health",
                     "Is tracewarden itself healthy: loss, kernel map fill, rule reloads, scrape time, CPU and memory.",
                     p, variables, types)


DASHBOARDS = {
    "tracewarden-overview.json": overview,
    "tracewarden-container.json": container,
    "tracewarden-exporter-health.json": health,
}


def render(fn):
    return json.dumps(fn(), indent=2, sort_keys=False) + "\n"


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
    check = "--check" in sys.argv[1:]
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(out, name)
        text = render(fn)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            os.makedirs(out, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date (run python3 grafana/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
