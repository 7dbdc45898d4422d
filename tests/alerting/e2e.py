#!/usr/bin/env python3
"""End-to-end test of the shipped alerting with the real servers (Debian packages), loopback only.

  webhook_receiver.py (127.0.0.1,  <-  Alertmanager (shipped alertmanager.yml, receiver URLs
   also the WeCom API mock)              rewritten to the receiver, SMTP smarthost to the
  aiosmtpd SMTP sink (127.0.0.1)   <-    sink)  <-  Prometheus (shipped
                                         alert rules)  -- scrapes -->  127.0.0.1:<dead port>
                                                   ^                   target/debug/exporter (root)
                                                   +-- direct push (--alertmanager.url) --+

Proves:
  1. "exporter down": a tracewarden target where nothing listens makes TracewardenExporterDown
     fire in Prometheus and reach the on-call webhook and the Slack receiver through the shipped
     routes, with the exact labels and annotations.
  2. inhibition in the real Alertmanager: ExporterDown of an instance silences that instance's
     rule-violation page, not another instance's.
  3. every PromQL expression of the shipped rules and dashboards executes on that Prometheus
     (errors fail; dashboard queries and recording rules without data fail under CI=true or
     with E2E_REQUIRE_DATA=1, and are listed otherwise: a query of a misspelt metric has none).
  4. rule violations: a stand-in exporter (static_metrics_server.py, labelled as such) whose
     tracewarden_rule_matches_total rises for an emergency, a critical, an error, a warning and a
     notice rule makes TracewardenRuleViolationCritical (emergency, critical) reach the on-call
     webhook and TracewardenRuleViolation (error, warning) the ticket webhook, with every
     container label and the rendered annotations; the notice rule notifies nobody. The stand-in
     covers what a host process cannot: container/pod labels in the rendered annotations.
     The page also goes out through the shipped wechat_configs: Alertmanager fetches a token
     from the WeCom API mock with the configured corp id and secret and sends the app message
     with it (agent, party), its text naming the rule, the container and the runbook; the
     warning rule's ticket also goes out through the shipped email_configs to the SMTP sink
     (Debian's python3-aiosmtpd), To and Subject as configured, its text part naming the rule,
     the container and the runbook.
  5. with the real exporter (target/debug/exporter or $TRACEWARDEN_EXPORTER, --rules-dir
     <rules/ + DIRECT_RULES> --alertmanager.url <AM>,
     needs root): it is scraped (up == 1), its syscall counters are queryable, it raises no
     ExporterDown, and a real detection goes both ways: a read of /etc/shadow on the host, by a
     copy of cat under a name of its own (so its alert is this read's alone: any host process
     reading /etc/shadow fires the same rule), fires the shipped rule "Read sensitive file
     untrusted" (warning, container_id="host"), and
       a. the direct push reaches Alertmanager within 2 s of the read (the test's clock, from
          just before the read to the push of that reader seen in Alertmanager) as
          TracewardenRuleMatch with severity=ticket, and Alertmanager's shipped routes deliver it
          to the ticket webhook (after the ticket route's group_wait of 1m, bounded wait); by
          severity, two rules of the test's own (DIRECT_RULES, added to a copy of rules/) fire on
          reads of their own files: the emergency one is pushed as severity=page and reaches only
          the on-call webhook, the error one as severity=ticket and reaches only the ticket one;
       b. Prometheus counts the hit (tracewarden_rule_matches_total) and TracewardenRuleViolation
          reaches the ticket webhook with rule, severity=ticket and the runbook link. A fresh
          Prometheus only alerts on an *increase* (the first-hit branch needs `up offset 5m`), so
          a second reader reads once more after Prometheus has scraped the first hit (the
          counter cannot say whose read it counted; the second reader's own push shows it was
          detected).
       c. the same rule broken inside a real runc container (busybox rootfs, a pod's CRI
          annotations, a kubepods cgroup): the direct push reaches Alertmanager within 2 s of the
          container's start with its container_name, image, pod and namespace labels, Prometheus
          counts the match under them, and the ticket webhook receives it with the description
          naming the container, image and pod, and the e-mail receiver gets it with the rule and
          the container.
     Each action runs once: a detection that does not come fails, with the exporter's
     event_ring_full drop counter in the message (a lost event is a failure, not a retry).
     Under CI=true a missing exporter build or running without root fails instead of skipping.
     The real exporter serves /metrics over TLS with basic auth (--web.config.file, a CA and a
     certificate made here with openssl, a bcrypt hash from libcrypt): Prometheus scrapes it with
     scheme https, tls_config.ca_file and basic_auth.password_file; a scrape without the
     password gets 401 and plain HTTP gets 400. E2E_EXPORTER_TLS=0 serves plain HTTP instead.

Every process it starts is killed on exit. Bounded waits; all traffic to 127.0.0.1.
"""
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import e2e_receivers as receivers  # noqa: E402
from e2e_fixtures import (  # noqa: E402
    CONTAINER, DEFAULT_WEBHOOK, DIRECT_RULES, EXPORTER, EXPORTER_TLS, PAGE_WEBHOOK, POD, READERS,
    REAL_RULE, SCRAPE_PASSWORD, SCRAPE_USER, SIM_RULES, TICKET_WEBHOOK, am_container_alerts,
    am_real_alerts, by_reader, direct_rule_file, exporter_get, exporter_value, prom_real_matches,
    read_shadow, ring_drops, rules_dir_with_direct_rules, runc_container, shadow_reader,
    sim_metrics, web_config)
from e2e_harness import (  # noqa: E402
    TMPDIRS, free_port, http, log_tail, note, notifications, poll_until, query, ready, run, start,
    step, wait_until)

RUNBOOK = "README.md#runbook-"
SLACK = "/global/slack_api_url"
CI = os.environ.get("CI") == "true"
EMAIL_TO = "security-team@example.org"


def main():
    for tool in ("prometheus", "prometheus-alertmanager"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(":")):
            step(f"{tool} installed", False, "run scripts/bootstrap.sh")
            return
    tmp = tempfile.mkdtemp(prefix="tracewarden-e2e-")
    TMPDIRS.append(tmp)
    note(f"work dir {tmp}")
    hook_file = os.path.join(tmp, "webhook.jsonl")
    port_file = os.path.join(tmp, "webhook.port")

    # 1. webhook receiver
    start("webhook", [sys.executable, os.path.join(HERE, "webhook_receiver.py"), hook_file, port_file], tmp)
    wport = wait_until(lambda: open(port_file).read().strip(), 10, 0.2)
    if not wport:
        step("webhook receiver listens", False, log_tail("webhook"))
        return
    hook = f"127.0.0.1:{wport}"

    # 1b. the SMTP sink the shipped e-mail receiver delivers to
    maildir = os.path.join(tmp, "maildir")
    smtp = None
    missing = receivers.smtp_missing()
    if missing:
        step("SMTP sink (python3-aiosmtpd) for the e-mail receiver", False, missing)
    else:
        smtp_port = free_port()
        start("smtp", receivers.smtp_sink_args(smtp_port, maildir), tmp)
        if wait_until(lambda: receivers.listening(smtp_port), 10, 0.2):
            smtp = f"127.0.0.1:{smtp_port}"
        else:
            step("SMTP sink listens", False, log_tail("smtp"))

    # 2. Alertmanager with the shipped config, receiver addresses rewritten to the receiver (and
    # the SMTP smarthost to the sink)
    am_cfg = checks.rewritten_am_config(f"http://{hook}", os.path.join(tmp, "alertmanager.yml"),
                                        smarthost=smtp or "127.0.0.1:9")
    am = f"127.0.0.1:{free_port()}"
    start("alertmanager", ["prometheus-alertmanager", f"--config.file={am_cfg}",
                           f"--storage.path={tmp}/am-data", f"--web.listen-address={am}",
                           "--cluster.listen-address=", "--log.level=info"], tmp)
    ok = wait_until(ready(f"http://{am}/-/ready"), 30, 0.5)
    step("Alertmanager starts with the shipped alertmanager.yml (receivers -> 127.0.0.1)", ok,
         "" if ok else log_tail("alertmanager"))
    if not ok:
        return

    # 3. the real exporter, when built
    targets = []
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here: the "exporter down" target
    exporter = None
    if os.access(EXPORTER, os.X_OK) and os.geteuid() != 0:
        if CI:
            step("real exporter runs (needs root)", False, "CI=true: run the e2e as root")
        note("not root: the real exporter cannot load its eBPF programs; only the exporter-down path runs")
    elif os.access(EXPORTER, os.X_OK):
        exporter = f"127.0.0.1:{free_port()}"
        web_args = []
        if os.environ.get("E2E_EXPORTER_TLS", "1") != "0":
            try:
                web_yml, ca_file, password_file = web_config(tmp)
            except (OSError, subprocess.SubprocessError) as e:
                step("TLS material for the exporter (openssl, libcrypt bcrypt)", False, str(e))
                return
            web_args = ["--web.config.file", web_yml]
            token = base64.b64encode(f"{SCRAPE_USER}:{SCRAPE_PASSWORD}".encode()).decode()
            EXPORTER_TLS.update(ctx=ssl.create_default_context(cafile=ca_file), auth=f"Basic {token}",
                                ca_file=ca_file, password_file=password_file)
        # Unpinned (--bpf.pin-dir=): a test leaves no kernel counters pinned on the machine.
        start("exporter", [EXPORTER, "--rules-dir", rules_dir_with_direct_rules(tmp),
                           "--alertmanager.url", f"http://{am}", "--web.listen-address", exporter,
                           "--bpf.pin-dir=", *web_args], tmp)
        ok = wait_until(lambda: exporter_get(exporter, "/metrics")[0] == 200, 60, 0.5)
        scheme = "https + basic auth" if EXPORTER_TLS else "http"
        step(f"real exporter (target/debug/exporter) serves /metrics ({scheme})", ok,
             "" if ok else log_tail("exporter"))
        if ok and EXPORTER_TLS:
            try:
                exporter_get(exporter, "/metrics", auth=False)
                refused = "answered without credentials"
            except urllib.error.HTTPError as e:
                refused = "" if e.code == 401 and e.headers.get("WWW-Authenticate", "").startswith("Basic") \
                    else f"status {e.code}"
            try:
                status, _ = http(f"http://{exporter}/metrics")
                plain = f"plain HTTP answered {status}"
            except urllib.error.HTTPError as e:
                plain = "" if e.code == 400 else f"plain HTTP: status {e.code}"
            except OSError as e:
                plain = f"plain HTTP: {e}"
            step("real exporter refuses a scrape without the password (401) and plain HTTP (400)",
                 not refused and not plain, "\n".join(x for x in (refused, plain) if x))
        if ok:
            targets.append(exporter)
        else:
            exporter = None
    else:
        if CI:
            step("real exporter built (target/debug/exporter)", False, "CI=true: run cargo build first")
        note("target/debug/exporter not built: only the exporter-down path runs")
    targets.append(dead)

    # stand-in exporter for the rule-violation path: each rule already hit once
    sim_file = os.path.join(tmp, "sim-metrics.txt")
    with open(sim_file, "w") as f:
        f.write(sim_metrics(1))
    sim_port_file = os.path.join(tmp, "sim.port")
    start("stand-in-exporter", [sys.executable, os.path.join(HERE, "static_metrics_server.py"),
                                sim_file, sim_port_file], tmp)
    sport = wait_until(lambda: open(sim_port_file).read().strip(), 10, 0.2)
    if not sport:
        step("stand-in exporter listens", False, log_tail("stand-in-exporter"))
        return
    sim = f"127.0.0.1:{sport}"
    targets.append(sim)

    # 4. Prometheus with the shipped rules
    prom = f"127.0.0.1:{free_port()}"
    prom_cfg = {
        # scrape_timeout 2s: the debug-build exporter with rules loaded has answered /metrics in
        # over 1 s on a busy 2-vCPU machine (its own tracewarden_scrape_duration_seconds: < 1 ms).
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"},
        "rule_files": [checks.RULES],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]},
        "scrape_configs": [{"job_name": "tracewarden", "static_configs": [{"targets": targets}]}],
    }
    if exporter and EXPORTER_TLS:
        # The TLS target needs its own scrape config; job names are unique, so it is renamed
        # back to job="tracewarden", which the rules and dashboards select on.
        targets.remove(exporter)
        prom_cfg["scrape_configs"].append({
            "job_name": "tracewarden-tls",
            "scheme": "https",
            "tls_config": {"ca_file": EXPORTER_TLS["ca_file"], "server_name": "localhost"},
            "basic_auth": {"username": SCRAPE_USER, "password_file": EXPORTER_TLS["password_file"]},
            "static_configs": [{"targets": [exporter]}],
            "relabel_configs": [{"target_label": "job", "replacement": "tracewarden"}],
        })
    cfg_path = os.path.join(tmp, "prometheus.yml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(prom_cfg, f)
    start("prometheus", ["prometheus", f"--config.file={cfg_path}",
                         f"--storage.tsdb.path={tmp}/prom-data", f"--web.listen-address={prom}",
                         f"--web.external-url=http://{prom}/",
                         "--log.level=info"], tmp)
    ok = wait_until(ready(f"http://{prom}/-/ready"), 60, 0.5)
    step("Prometheus starts with alertmanager/tracewarden-alerts.yml", ok,
         "" if ok else log_tail("prometheus"))
    if not ok:
        return
    t0 = time.time()
    rules = json.loads(http(f"http://{prom}/api/v1/rules")[1])["data"]["groups"]
    n_rules = sum(len(g["rules"]) for g in rules)
    want_rules = sum(len(g["rules"]) for g in checks.load_yaml(checks.RULES)["groups"])
    step(f"Prometheus loaded all {want_rules} shipped rules", n_rules == want_rules,
         f"loaded {n_rules}")

    # 4b. a real detection: the direct push of this reader's read reaches Alertmanager within 2 s
    push = None  # (time of the read, time seen in Alertmanager, reader)
    t_direct = None  # when the DIRECT_RULES files were read
    if exporter:
        wait_until(lambda: query(prom, f'up{{instance="{exporter}"}}')["data"]["result"], 30, 0.5)
        reader = shadow_reader(tmp)
        drops0 = ring_drops(exporter)
        t_cat = read_shadow(tmp, reader)
        # only Alertmanager in this loop: a 20 ms resolution
        t_am = poll_until(lambda: am_real_alerts(am, reader), t_cat + 10)
        if not t_am:
            step(f'direct push: "{REAL_RULE}" reaches Alertmanager within 2 s of {reader} /etc/shadow', False,
                 f"nothing in 10 s; exporter's event_ring_full drops since the read: "
                 f"+{ring_drops(exporter) - drops0:.0f}\n" + log_tail("exporter"))
        else:
            push = (t_cat, t_am, reader)
            lat = t_am - t_cat
            alerts = am_real_alerts(am, reader)
            step(f'direct push: "{REAL_RULE}" reaches Alertmanager {lat:.2f} s after {reader} /etc/shadow '
                 "(bound 2 s)", lat <= 2.0,
                 f"push latency {lat:.3f} s; labels {alerts[0]['labels'] if alerts else '-'}")
        # a read per direct rule: an emergency and an error hit, routed by severity (checked in
        # 6c); each file is this run's own, so only these reads match.
        t_direct = time.time()
        for rule, _, _ in DIRECT_RULES:
            with open(direct_rule_file(tmp, rule)) as f:
                f.read()

    # 5c. the same rule broken inside a real runc container (a pod's container): the direct push
    # carries the container's labels within 2 s of the container's start, and Prometheus counts
    # it under them. Its fresh container id makes the alert its own.
    in_pod = None  # (short id, start of the container)
    if exporter:
        drops0 = ring_drops(exporter)
        proc, short_id, t_run = runc_container(tmp, "cat /etc/shadow >/dev/null; sleep 3")
        t_am = poll_until(lambda: am_container_alerts(am, short_id), t_run + 10)
        proc.wait(timeout=30)
        if not t_am:
            step(f'runc container: "{REAL_RULE}" pushed with its labels', False,
                 f"no push within 10 s for container {short_id} (exporter's event_ring_full drops since "
                 f"its start: +{ring_drops(exporter) - drops0:.0f}; runc: "
                 f"{proc.stderr.read().decode(errors='replace')[-300:]!r})\n" + log_tail("exporter"))
        else:
            in_pod = (short_id, t_run)
            lab = am_container_alerts(am, in_pod[0])[0]["labels"]
            problems = [f"{k}={lab.get(k)!r}, want {v!r}" for k, v in POD.items() if lab.get(k) != v]
            step(f'runc container: "{REAL_RULE}" reaches Alertmanager {t_am - in_pod[1]:.2f} s after '
                 "the container started (bound 2 s), with its container, image, pod and namespace",
                 not problems and t_am - in_pod[1] <= 2.0, "\n".join(problems) or f"labels {lab}")
            sel = ",".join(f'{k}="{v}"' for k, v in dict(POD, rule=REAL_RULE, container_id=in_pod[0]).items())
            counted = wait_until(lambda: query(prom, f"tracewarden_rule_matches_total{{{sel}}}")["data"]["result"],
                                 30, 1)
            step("runc container: Prometheus counts the match under the container's labels", bool(counted),
                 f"series {counted[0]['metric']}" if counted else f"no series {{{sel}}}")

    # 5. inhibition in the real Alertmanager (alerts posted to its v2 API)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    crit = {"alertname": "TracewardenRuleViolationCritical", "severity": "page", "job": "tracewarden",
            "rule": "Terminal shell in container", "priority": "critical", "namespace": "inhibition-test"}
    posted = [
        {"labels": {"alertname": "TracewardenExporterDown", "severity": "page", "job": "tracewarden",
                    "instance": "down-node:9862", "namespace": "inhibition-test"}, "startsAt": now},
        {"labels": dict(crit, instance="down-node:9862", pod="victim-0", container_name="web"), "startsAt": now},
        {"labels": dict(crit, instance="up-node:9862", pod="victim-1", container_name="web"), "startsAt": now},
    ]
    http(f"http://{am}/api/v2/alerts", json.dumps(posted).encode())

    def inhib_seen():
        got = [a for n in notifications(PAGE_WEBHOOK, hook_file) for a in n["alerts"]
               if a["labels"].get("namespace") == "inhibition-test"
               and a["labels"]["alertname"] == "TracewardenRuleViolationCritical"]
        return got if any(a["labels"]["instance"] == "up-node:9862" for a in got) else None

    got = wait_until(inhib_seen, 45)
    time.sleep(5)  # the inhibited group would flush at the same time; give it a margin
    got = [a for n in notifications(PAGE_WEBHOOK, hook_file) for a in n["alerts"]
           if a["labels"].get("namespace") == "inhibition-test"
           and a["labels"]["alertname"] == "TracewardenRuleViolationCritical"]
    instances = sorted({a["labels"]["instance"] for a in got})
    step("inhibition: ExporterDown(down-node) silences down-node's critical rule page, not up-node's",
         instances == ["up-node:9862"], f"rule-violation pages delivered for: {instances}")

    # 6. rule violations -> Prometheus -> Alertmanager -> page / ticket webhooks
    seen_sim = wait_until(lambda: query(prom, f'tracewarden_rule_matches_total{{instance="{sim}"}}')
                          ["data"]["result"], 30)
    if not seen_sim:
        step("Prometheus scrapes the stand-in exporter", False, log_tail("prometheus"))
    time.sleep(5)  # a few samples at 1 before the new hit
    with open(sim_file, "w") as f:
        f.write(sim_metrics(2))
    t_hit = time.time()
    note("stand-in exporter: one new hit of an emergency, a critical, an error, a warning and a notice rule")

    # the real exporter's second hit: Prometheus already has the first one, so this is an increase.
    # The counter cannot say whose read it counted; the second reader's own push says this read
    # was detected.
    real_hit = None
    if push:
        seen = prom_real_matches(prom, exporter)
        if seen is None:
            wait_until(lambda: prom_real_matches(prom, exporter), 10, 0.5)
            seen = prom_real_matches(prom, exporter) or 0
        reader2 = shadow_reader(tmp)
        drops0 = ring_drops(exporter)
        t_cat2 = read_shadow(tmp, reader2)
        pushed2 = poll_until(lambda: am_real_alerts(am, reader2), t_cat2 + 10)
        rose = wait_until(lambda: (prom_real_matches(prom, exporter) or 0) > seen, 10, 0.5)
        if pushed2 and rose:
            real_hit = t_cat2
        step(f'a second read ({reader2}) is pushed and tracewarden_rule_matches_total{{rule="{REAL_RULE}", '
             'container_id="host"} rises in Prometheus', real_hit is not None,
             f"pushed: {pushed2 is not None}; value {seen} -> {prom_real_matches(prom, exporter)}; exporter's "
             f"event_ring_full drops since the read: +{ring_drops(exporter) - drops0:.0f}")

    def violation(path, alertname, rule, **labels):
        """The first firing notification of alertname for rule (and these labels, e.g. the host's
        container_id: the runc container of 5c breaks the same rule)."""
        for n in notifications(path, hook_file):
            for a in n["alerts"]:
                if a["labels"].get("alertname") == alertname and a["labels"].get("rule") == rule \
                        and a["status"] == "firing" and all(a["labels"].get(k) == v for k, v in labels.items()):
                    return n, a
        return None

    page = (PAGE_WEBHOOK, "TracewardenRuleViolationCritical", "page", "tracewarden-page")
    ticket = (TICKET_WEBHOOK, "TracewardenRuleViolation", "ticket", "tracewarden-ticket")
    by_priority = {"emergency": page, "critical": page, "error": ticket, "warning": ticket}
    for rule, prio in SIM_RULES[:-1]:
        path, alertname, sev, receiver = by_priority[prio]
        found = wait_until(lambda: violation(path, alertname, rule), 90, 1)
        if not found:
            step(f"{alertname} ({prio}) reaches {receiver}", False,
                 f"nothing after {time.time() - t_hit:.0f}s; ALERTS: "
                 f"{json.dumps(query(prom, 'ALERTS').get('data'))}")
            continue
        n, a = found
        want_labels = dict(CONTAINER, alertname=alertname, severity=sev, job="tracewarden",
                           instance=sim, rule=rule, priority=prio)
        c = CONTAINER
        want_ann = {
            "summary": f'Rule "{rule}" ({prio}) fired in container {c["container_name"]} '
                       f'(pod {c["namespace"]}/{c["pod"]})',
            "description": f'tracewarden on {sim} counted 1 match(es) of the {prio} rule "{rule}" in the '
                           f'last 5 minutes in container {c["container_name"]} (id {c["container_id"]}, '
                           f'image {c["image"]}, pod {c["namespace"]}/{c["pod"]}).',
            "runbook_url": RUNBOOK + alertname.lower(),
        }
        problems = []
        if a["labels"] != want_labels:
            problems.append(f"labels {a['labels']} != {want_labels}")
        if a["annotations"] != want_ann:
            problems.append(f"annotations {a['annotations']} != {want_ann}")
        if n.get("receiver") != receiver:
            problems.append(f"receiver {n.get('receiver')} != {receiver}")
        step(f"{alertname} ({prio}) reaches {receiver} {time.time() - t_hit:.0f}s after the hit, "
             "with container labels and annotations", not problems,
             "\n".join(problems) or f"labels {a['labels']}\nsummary: {a['annotations']['summary']}")

    # 6e. the other halves of the page and ticket receivers: WeCom and e-mail
    receivers.check_wecom_and_email(step, wait_until, am_cfg, hook_file, maildir if smtp else None,
                                    CONTAINER, RUNBOOK, EMAIL_TO)

    # 6b. the real detection's notifications, both paths, through the ticket route
    if push:
        # The notification carries the annotations of the group's latest push: the first or
        # the second read of this run, whichever came last.
        t_cat, t_am, _ = push

        def pushed():
            for n in notifications(TICKET_WEBHOOK, hook_file):
                for a in n["alerts"]:
                    if a["labels"].get("alertname") == "TracewardenRuleMatch" \
                            and a["labels"].get("rule") == REAL_RULE and a["status"] == "firing" \
                            and a["labels"].get("container_id") == "host" and by_reader(a, READERS):
                        return n, a
            return None

        found = wait_until(pushed, max(5, t_am + 90 - time.time()), 1)
        elsewhere = [p for p in (PAGE_WEBHOOK, DEFAULT_WEBHOOK) for n in notifications(p, hook_file)
                     for a in n["alerts"] if a["labels"].get("rule") == REAL_RULE
                     and a["labels"].get("container_id") == "host" and by_reader(a, READERS)]
        if not found:
            step("direct push (TracewardenRuleMatch) reaches the ticket webhook", False,
                 f"nothing {time.time() - t_cat:.0f}s after the read; elsewhere: {elsewhere}\n"
                 + log_tail("alertmanager"))
        else:
            n, a = found
            lab = a["labels"]
            want = {"alertname": "TracewardenRuleMatch", "rule": REAL_RULE, "priority": "warning",
                    "severity": "ticket", "container_id": "host"}
            problems = [f"{k}={lab.get(k)!r}, want {v!r}" for k, v in want.items() if lab.get(k) != v]
            if not lab.get("hostname"):
                problems.append("no hostname label")
            # Same convention as /metrics: a host process has no container_name label.
            if "container_name" in lab:
                problems.append(f"container_name={lab['container_name']!r} on a host alert")
            if "/etc/shadow" not in a["annotations"].get("summary", "") \
                    or "on host " not in a["annotations"].get("description", "") \
                    or "outside any container" not in a["annotations"].get("description", ""):
                problems.append(f"annotations {a['annotations']}")
            if n.get("receiver") != "tracewarden-ticket":
                problems.append(f"receiver {n.get('receiver')} != tracewarden-ticket")
            if elsewhere:
                problems.append(f"also notified on page/default: {elsewhere}")
            step(f"direct push (TracewardenRuleMatch) reaches the ticket webhook "
                 f"{time.time() - t_cat:.0f}s after the read (Alertmanager: {t_am - t_cat:.2f} s; "
                 "then the ticket route's group_wait 1m)", not problems,
                 "\n".join(problems) or f"labels {lab}\nsummary: {a['annotations']['summary'].strip()}")

    # 6d. the container's push through the shipped ticket route, annotations naming the pod
    if in_pod:
        def pod_pushed():
            for n in notifications(TICKET_WEBHOOK, hook_file):
                for a in n["alerts"]:
                    if a["labels"].get("container_id") == in_pod[0] and a["labels"].get("rule") == REAL_RULE:
                        return n, a
            return None

        found = wait_until(pod_pushed, max(5, in_pod[1] + 90 - time.time()), 1)
        problems = []
        if not found:
            problems.append(f"nothing {time.time() - in_pod[1]:.0f}s after the container ran")
        else:
            n, a = found
            problems = [f"{k}={a['labels'].get(k)!r}" for k, v in POD.items() if a["labels"].get(k) != v]
            want = f"in container {POD['container_name']} (id {in_pod[0]}, image {POD['image']}, " \
                   f"pod {POD['namespace']}/{POD['pod']})"
            if want not in a["annotations"].get("description", ""):
                problems.append(f"description {a['annotations'].get('description')!r} lacks {want!r}")
            if n.get("receiver") != "tracewarden-ticket":
                problems.append(f"receiver {n.get('receiver')}")
        step("runc container: the push reaches the ticket webhook with the pod's labels and annotations",
             not problems, "\n".join(problems))
        if smtp:
            mail = wait_until(lambda: [m for m in receivers.mails(maildir) if in_pod[0] in m["text"]], 30, 1)
            where = f"in container {POD['container_name']} (id {in_pod[0]}, image {POD['image']}, " \
                    f"pod {POD['namespace']}/{POD['pod']})"
            problems = receivers.mail_problems(
                mail[0], EMAIL_TO, f"[tracewarden] TracewardenRuleMatch {REAL_RULE} (",
                [f"Rule: {REAL_RULE} (warning)", where]) if mail else ["no e-mail names the container"]
            step("runc container: the push reaches the e-mail receiver (SMTP) with the rule and the container",
                 not problems, "\n".join(problems) or mail[0]["text"].strip())

    # 6c. direct push by severity through the real Alertmanager: an emergency rule pages, an
    # error rule opens a ticket, and neither reaches another receiver.
    if t_direct:
        def direct(rule):
            return [(p, n.get("receiver"), a) for p in (PAGE_WEBHOOK, TICKET_WEBHOOK, DEFAULT_WEBHOOK)
                    for n in notifications(p, hook_file) for a in n["alerts"]
                    if a["labels"].get("alertname") == "TracewardenRuleMatch"
                    and a["labels"].get("rule") == rule and a["status"] == "firing"]

        for rule, prio, sev in DIRECT_RULES:
            path, _, _, receiver = page if sev == "page" else ticket
            got = wait_until(lambda: direct(rule), max(5, t_direct + 90 - time.time()), 1) or []
            problems = [f"{p} ({r}): severity={a['labels'].get('severity')}" for p, r, a in got
                        if p != path or r != receiver or a["labels"].get("severity") != sev
                        or a["labels"].get("priority") != prio.lower()]
            if not got:
                counted = exporter_value(exporter, "tracewarden_rule_matches_total", f'rule="{rule}"')
                problems.append(f"nothing {time.time() - t_direct:.0f}s after the read (matches counted: "
                                f"{counted:.0f}; events lost to a full ring so far: {ring_drops(exporter):.0f})\n"
                                + log_tail("exporter", 5))
            step(f"direct push by severity: {prio.lower()} rule \"{rule}\" -> severity={sev} -> "
                 f"{receiver} only ({time.time() - t_direct:.0f}s after the read)", not problems,
                 "\n".join(problems) or f"labels {got[0][2]['labels']}")

    if real_hit:
        found = wait_until(lambda: violation(TICKET_WEBHOOK, "TracewardenRuleViolation", REAL_RULE,
                                                 container_id="host"),
                           max(5, real_hit + 90 - time.time()), 1)
        if not found:
            step("TracewardenRuleViolation for the real hit reaches tracewarden-ticket", False,
                 f"nothing {time.time() - real_hit:.0f}s after the second read; ALERTS: "
                 f"{json.dumps(query(prom, 'ALERTS').get('data'))}")
        else:
            n, a = found
            lab = a["labels"]
            want = {"alertname": "TracewardenRuleViolation", "rule": REAL_RULE, "priority": "warning",
                    "severity": "ticket", "container_id": "host", "job": "tracewarden",
                    "instance": exporter}
            problems = [f"{k}={lab.get(k)!r}, want {v!r}" for k, v in want.items() if lab.get(k) != v]
            if a["annotations"].get("runbook_url") != RUNBOOK + "tracewardenruleviolation":
                problems.append(f"runbook_url {a['annotations'].get('runbook_url')}")
            if a["annotations"].get("summary") != f'Rule "{REAL_RULE}" (warning) fired on host {exporter}':
                problems.append(f"summary {a['annotations'].get('summary')!r}")
            if not a["annotations"].get("description", "").endswith("on the host, outside any container."):
                problems.append(f"description {a['annotations'].get('description')!r}")
            if n.get("receiver") != "tracewarden-ticket":
                problems.append(f"receiver {n.get('receiver')} != tracewarden-ticket")
            step(f"TracewardenRuleViolation for the real hit reaches tracewarden-ticket "
                 f"{time.time() - real_hit:.0f}s after the second read, with rule, severity and runbook",
                 not problems, "\n".join(problems) or f"labels {lab}\nannotations {a['annotations']}")

    # 7. exporter down -> Prometheus -> Alertmanager -> webhook (and Slack)
    note(f"waiting for TracewardenExporterDown of {dead} (for: 2m, then group_wait 10s; at most 4 min)")

    def down_notification():
        for n in notifications(PAGE_WEBHOOK, hook_file):
            for a in n["alerts"]:
                if (a["labels"].get("alertname") == "TracewardenExporterDown"
                        and a["labels"].get("instance") == dead and a["status"] == "firing"):
                    return n, a
        return None

    found = wait_until(down_notification, 240, 2)
    elapsed = time.time() - t0
    if not found:
        alerts = query(prom, "ALERTS")
        step("TracewardenExporterDown reaches the on-call webhook", False,
             f"nothing after {elapsed:.0f}s; Prometheus ALERTS: {json.dumps(alerts.get('data'))}\n"
             + log_tail("alertmanager"))
    else:
        n, a = found
        want_labels = {"alertname": "TracewardenExporterDown", "instance": dead,
                       "job": "tracewarden", "severity": "page"}
        want_ann = {
            "summary": f"tracewarden exporter {dead} is down",
            "description": f"Prometheus has failed to scrape tracewarden on {dead} for 2 minutes: "
                           "syscalls and rule violations on that node are not being watched. "
                           "Rule-violation alerts from this instance are inhibited while this fires.",
            "runbook_url": RUNBOOK + "tracewardenexporterdown",
        }
        problems = []
        if a["labels"] != want_labels:
            problems.append(f"labels {a['labels']} != {want_labels}")
        if a["annotations"] != want_ann:
            problems.append(f"annotations {a['annotations']} != {want_ann}")
        if n.get("receiver") != "tracewarden-page":
            problems.append(f"receiver {n.get('receiver')}")
        if prom not in a.get("generatorURL", ""):
            problems.append(f"generatorURL {a.get('generatorURL')} is not this Prometheus")
        step(f"TracewardenExporterDown reaches the on-call webhook after {elapsed:.0f}s "
             "with the right labels and annotations", not problems,
             "\n".join(problems) or f"labels {a['labels']}\nannotations {a['annotations']}")
        slack = [s for s in notifications(SLACK, hook_file)
                 if isinstance(s, dict) and dead in json.dumps(s)]
        wait_until(lambda: [s for s in notifications(SLACK, hook_file) if dead in json.dumps(s)], 10)
        slack = [s for s in notifications(SLACK, hook_file) if dead in json.dumps(s)]
        text = json.dumps(slack[0]) if slack else ""
        step("the page also reaches the Slack receiver, rendered with summary and runbook",
             bool(slack) and want_ann["summary"] in text and want_ann["runbook_url"] in text,
             f"{len(slack)} Slack payload(s); channel "
             f"{slack[0].get('attachments', [{}])[0].get('channel', slack[0].get('channel')) if slack else '-'}")

    # notice priority: recorded, never notified (checked after minutes of evaluation)
    notice = [a for path in (PAGE_WEBHOOK, TICKET_WEBHOOK, DEFAULT_WEBHOOK)
              for n in notifications(path, hook_file) for a in n["alerts"]
              if a["labels"].get("rule") == "E2E notice rule"]
    rec = query(prom, 'tracewarden:rule_matches:increase5m{rule="E2E notice rule"}')["data"]["result"]
    step("the notice-priority hit notifies no receiver", not notice,
         f"{len(notice)} notification(s); recording rule series: {len(rec)} "
         "(evaluated every 1m, may not have run yet)")

    # 8. the real exporter is healthy in the same Prometheus
    if exporter:
        r = query(prom, f'up{{job="tracewarden", instance="{exporter}"}}')
        ups = [s["value"][1] for s in r.get("data", {}).get("result", [])]
        r = query(prom, f'max_over_time(scrape_duration_seconds{{instance="{exporter}"}}[10m])')
        slowest = [s["value"][1] for s in r.get("data", {}).get("result", [])]
        r = query(prom, f'min_over_time(up{{instance="{exporter}"}}[10m])')
        always = [s["value"][1] for s in r.get("data", {}).get("result", [])]
        try:
            lost = f"{ring_drops(exporter):.0f}"
        except (OSError, urllib.error.URLError, ValueError):
            lost = "?"
        step("real exporter is scraped (up == 1, job=\"tracewarden\""
             + (", over TLS with basic auth)" if EXPORTER_TLS else ")"), ups == ["1"],
             f"up = {ups}; min up over the run {always}; slowest scrape {slowest} s; "
             f"events lost to a full ring: {lost}")
        r = query(prom, f'sum(tracewarden_syscalls_total{{instance="{exporter}", container_id="host"}})')
        res = r.get("data", {}).get("result", [])
        step("real exporter's syscall counters are queryable in Prometheus", bool(res),
             f"host syscalls counted: {res[0]['value'][1] if res else 'none'}")
        r = query(prom, f'ALERTS{{alertname="TracewardenExporterDown", instance="{exporter}"}}')
        step("no TracewardenExporterDown for the running exporter",
             r.get("status") == "success" and not r["data"]["result"], json.dumps(r.get("data")))

        # 8b. the per (rule, container) rate limit: reads past the burst (the exporter's
        #     default --alerts.burst is 10, then 1 a second) are suppressed and counted, and the
        #     count reaches Prometheus (the health dashboard's suppression panel).
        reader = shadow_reader(tmp)
        for _ in range(15):
            read_shadow(tmp, reader)
        suppressed = (f'tracewarden_alerts_suppressed_total{{instance="{exporter}", '
                      f'rule="Read sensitive file untrusted"}}')
        rated = wait_until(lambda: query(prom, f"rate({suppressed}[1m])")["data"]["result"], 30, 1)
        r = query(prom, suppressed)
        step("a burst of 15 reads is rate limited: tracewarden_alerts_suppressed_total rises in Prometheus",
             bool(rated), json.dumps(r.get("data", {}).get("result")))

    # 9. every shipped PromQL expression runs on this Prometheus. Alert expressions return data
    #    only while they fire, so only dashboards and recording rules are expected to have data.
    alert_items = [(w, e) for w, e in checks.rule_exprs() if w.startswith("rule Tracewarden")]
    data_items = [(w, e) for w, e in checks.rule_exprs() if not w.startswith("rule Tracewarden")]
    for name, d in checks.dashboards().items():
        data_items += [(w, checks.substitute(e)) for w, e in checks.grafana_exprs(name, d)]
    errors, empty = [], []
    for where, expr in alert_items + data_items:
        r = query(prom, expr)
        if r.get("status") != "success":
            errors.append(f"{where}: {r.get('error')}")
        elif not r["data"]["result"] and (where, expr) in data_items:
            empty.append(where)
    n = len(alert_items) + len(data_items)
    step(f"all {n} shipped PromQL expressions execute on Prometheus "
         f"({len(alert_items)} alert rules, {len(data_items)} dashboard queries and recording rules)",
         not errors,
         "\n".join(errors) or f"{len(data_items) - len(empty)} of {len(data_items)} dashboard/recording "
                              f"queries return data")
    if empty:
        detail = ("no data yet (metric not exported by this build, or no event of that kind "
                  "happened):\n  " + "\n  ".join(empty))
        if CI or os.environ.get("E2E_REQUIRE_DATA") == "1":
            step("every dashboard query and recording rule returns data (CI=true or E2E_REQUIRE_DATA=1)",
                 False, detail)
        else:
            print("    " + detail.replace("\n", "\n    "))


if __name__ == "__main__":
    run(main)
