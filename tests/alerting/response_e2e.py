#!/usr/bin/env python3
"""End-to-end test of the shipped response route with the real servers, loopback only.

  runc container reading /etc/shadow
      -> real exporter (shipped rules, --response.config, basic auth)  <- scrapes -  Prometheus
      (shipped alert rules: TracewardenResponseFreeze carries response="freeze")  ->  Alertmanager
      (shipped alertmanager.yml; the tracewarden-response receiver pointed at the exporter's
      /api/v1/respond with the basic auth password file, the other receivers at a test webhook)
      -> POST /api/v1/respond  -> the exporter freezes the container's cgroup

Proves: the container is frozen (its cgroup.events says "frozen 1", the exporter counts no more
of its syscalls) without any test code in the path, measured from the container's start to
"frozen 1"; people are told too (the hit's ticket reaches the ticket receiver); `exporter
respond release` thaws it and its syscalls resume; tracewarden_responses_total counts one freeze
and one release. Needs root and the built exporter (TRACEWARDEN_EXPORTER or target/debug).
Every process it starts is stopped on exit; bounded waits; all traffic to 127.0.0.1.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import e2e_fixtures as fixtures  # noqa: E402
from e2e_harness import (  # noqa: E402
    TMPDIRS, bcrypt_hash, free_port, log_tail, metric_sum, notifications, poll_until, query, ready,
    run, start, step, wait_until)

USER, PASSWORD = "alertmanager", "e2e-response-password"
SHADOW_RULE = "Read sensitive file untrusted"


def exporter_get(exporter, path):
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(f"http://{exporter}{path}", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def am_config(tmp, hook, exporter, password_file):
    """The shipped alertmanager.yml, receivers rewritten to the test webhook, the response
    receiver to the exporter's API with the password file."""
    path = checks.rewritten_am_config(f"http://{hook}", os.path.join(tmp, "alertmanager.yml"))
    cfg = checks.load_yaml(path)
    receiver = next(r for r in cfg["receivers"] if r["name"] == "tracewarden-response")
    webhook = receiver["webhook_configs"][0]
    webhook["url"] = f"http://{exporter}/api/v1/respond"
    webhook["http_config"]["basic_auth"]["password_file"] = password_file
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def runc_full_id(short_id):
    out = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True).stdout.split()
    return next((c for c in out if c.startswith(short_id)), None)


def main(tmp):
    exporter_bin = fixtures.EXPORTER
    if os.geteuid() != 0 or not os.access(exporter_bin, os.X_OK):
        step("response e2e needs root and the built exporter", False, f"{exporter_bin}, euid {os.geteuid()}")
        return
    for tool in ("prometheus", "prometheus-alertmanager", "runc"):
        if not shutil.which(tool):
            step(f"{tool} installed", False, "run scripts/bootstrap.sh")
            return
    password_file = os.path.join(tmp, "password")
    with open(password_file, "w") as f:
        f.write(PASSWORD)
    web = os.path.join(tmp, "web.yml")
    with open(web, "w") as f:
        yaml.safe_dump({"basic_auth_users": {USER: bcrypt_hash(PASSWORD)}}, f)
    policy = os.path.join(tmp, "response.yml")
    with open(policy, "w") as f:
        yaml.safe_dump({"cooldown_seconds": 600, "max_containers_per_minute": 3, "policies": [
            {"name": "freeze credential readers", "action": "freeze", "rules": [SHADOW_RULE]}]}, f)

    hook_file, port_file = os.path.join(tmp, "webhook.jsonl"), os.path.join(tmp, "webhook.port")
    start("webhook", [sys.executable, os.path.join(HERE, "webhook_receiver.py"), hook_file, port_file], tmp)
    hook = wait_until(lambda: open(port_file).read().strip(), 10, 0.2)
    exporter = f"127.0.0.1:{free_port()}"
    start("exporter", [exporter_bin, "--rules-dir", os.path.join(checks.ROOT, "rules"), "--web.listen-address",
                       exporter, "--web.config.file", web, "--response.config", policy], tmp)
    if not hook or not wait_until(lambda: exporter_get(exporter, "/metrics"), 60, 0.5):
        step("exporter with --response.config and the webhook receiver start", False,
             log_tail("exporter") + log_tail("webhook"))
        return
    am = f"127.0.0.1:{free_port()}"
    am_yml = am_config(tmp, f"127.0.0.1:{hook}", exporter, password_file)
    start("alertmanager", ["prometheus-alertmanager", f"--config.file={am_yml}",
                           f"--storage.path={tmp}/am-data", f"--web.listen-address={am}",
                           "--cluster.listen-address=", "--log.level=info"], tmp)
    prom = f"127.0.0.1:{free_port()}"
    prom_cfg = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [checks.RULES],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]},
        "scrape_configs": [{"job_name": "tracewarden", "static_configs": [{"targets": [exporter]}],
                            "basic_auth": {"username": USER, "password_file": password_file}}],
    }
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        yaml.safe_dump(prom_cfg, f)
    start("prometheus", ["prometheus", f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/prom-data",
                         f"--web.listen-address={prom}", "--log.level=info"], tmp)
    ok = wait_until(ready(f"http://{am}/-/ready"), 30, 0.5) and wait_until(ready(f"http://{prom}/-/ready"), 60, 0.5)
    up = f'up{{instance="{exporter}"}} == 1'
    ok = ok and wait_until(lambda: query(prom, up)["data"]["result"], 30, 0.5)
    step("Prometheus scrapes the exporter (basic auth), Alertmanager runs the shipped routes", ok,
         "" if ok else log_tail("prometheus") + log_tail("alertmanager"))
    if not ok:
        return

    # The container reads /etc/shadow twice a second, so its match counter rises between scrapes.
    _, short_id, t_start = fixtures.runc_container(tmp, "while true; do cat /etc/shadow > /dev/null; sleep 0.5; done")
    full_id = wait_until(lambda: runc_full_id(short_id), 10, 0.1) or "-"
    cgroup = os.path.join(cgroup2_root(), "kubepods/besteffort/pod0a1b2c3d-4e5f-4789-abcd-ef01234567e2", full_id)
    CONTAINERS.append((full_id, cgroup))
    events = os.path.join(cgroup, "cgroup.events")
    frozen = lambda: "frozen 1" in open(events).read().splitlines()  # noqa: E731
    t_frozen = poll_until(frozen, t_start + 60)
    step(f"container {short_id} reading /etc/shadow is frozen through Prometheus and Alertmanager"
         + (f" {t_frozen - t_start:.1f} s after its start" if t_frozen else ""),
         t_frozen is not None,
         "" if t_frozen else f"cgroup.events: {open(events).read() if os.path.exists(events) else '-'}\n"
         + log_tail("exporter"))
    if not t_frozen:
        return
    syscalls = lambda: metric_sum(exporter_get(exporter, "/metrics"), "tracewarden_syscalls_total", f'container_id="{short_id}"')  # noqa: E731
    time.sleep(2)
    before = syscalls()
    time.sleep(3)
    step("a frozen container makes no syscalls", syscalls() == before, f"{before} -> {syscalls()}")
    def ticketed():
        return any(a["labels"].get("alertname") == "TracewardenRuleViolation"
                   and a["labels"].get("container_id") == short_id
                   for n in notifications(fixtures.TICKET_WEBHOOK, hook_file) for a in n.get("alerts", []))
    # People are told too: the same hit's TracewardenRuleViolation reaches the ticket receiver
    # (after that route's group_wait of 1m). (TracewardenResponseFreeze itself resolves a minute
    # after the freeze stops the reads, before that group_wait ends.)
    t_wait = time.time()
    got = wait_until(ticketed, 90, 1)
    step("the same hit reaches the ticket receiver as TracewardenRuleViolation", got,
         f"at the ticket webhook {time.time() - t_wait:.0f} s after the freeze checks" if got
         else "no TracewardenRuleViolation of the container at the ticket webhook in 90 s")

    release = subprocess.run([exporter_bin, "respond", "release", short_id, "--url", f"http://{exporter}",
                              "--user", USER, "--password-file", password_file],
                             capture_output=True, text=True, timeout=30)
    thawed = wait_until(lambda: not frozen(), 5, 0.1)
    step("exporter respond release thaws it", release.returncode == 0 and thawed,
         release.stdout + release.stderr)
    resumed = syscalls()
    later = wait_until(lambda: (n := syscalls()) > resumed and n, 10, 0.5)
    step("its syscalls resume", later, f"{resumed} -> {later}" if later else f"stuck at {resumed} for 10 s")
    freezes = metric_sum(exporter_get(exporter, "/metrics"), "tracewarden_responses_total", 'action="freeze"', 'result="applied"')
    releases = metric_sum(exporter_get(exporter, "/metrics"), "tracewarden_responses_total", 'action="release"', 'result="applied"')
    step("tracewarden_responses_total counts one freeze and one release", (freezes, releases) == (1.0, 1.0),
         f"freeze applied {freezes}, release applied {releases}")


def cgroup2_root():
    return next(p for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                if os.path.exists(os.path.join(p, "cgroup.controllers")))


# (runc id, cgroup directory) of the containers started: thawed and deleted on exit, so a failed
# run leaves no frozen container behind.
CONTAINERS = []


def remove_containers():
    for full_id, cgroup in CONTAINERS:
        try:
            with open(os.path.join(cgroup, "cgroup.freeze"), "w") as f:
                f.write("0")
        except OSError:
            pass
        subprocess.run(["runc", "delete", "--force", full_id], capture_output=True, timeout=30)


if __name__ == "__main__":
    work = tempfile.mkdtemp(prefix="tracewarden-response-e2e-")
    TMPDIRS.append(work)
    run(main, work, cleanup=remove_containers)
