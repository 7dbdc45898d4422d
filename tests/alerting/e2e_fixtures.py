"""What the alerting end-to-end tests run against: the real exporter (its TLS web config and
/metrics), the host's reader of /etc/shadow, a pod's runc container, the rules only the e2e's own
reads match, and the stand-in node's metrics."""
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import yaml

import checks
from e2e_harness import bcrypt_hash, http, metric_sum, procs, query

ROOT = checks.ROOT
# run.sh passes TRACEWARDEN_EXPORTER on (a build elsewhere, e.g. with CARGO_TARGET_DIR set).
EXPORTER = os.environ.get("TRACEWARDEN_EXPORTER") or os.path.join(ROOT, "target", "debug", "exporter")
PAGE_WEBHOOK = "/receivers/tracewarden-page/url"
TICKET_WEBHOOK = "/receivers/tracewarden-ticket/url"
DEFAULT_WEBHOOK = "/receivers/tracewarden-default/url"
CONTAINER = {"container_id": "4f1c0ffee0", "container_name": "web", "image": "nginx:1.27",
             "pod": "web-6d9f", "namespace": "shop"}
SIM_RULES = [("E2E emergency rule", "emergency"), ("E2E critical rule", "critical"),
             ("E2E error rule", "error"), ("E2E warning rule", "warning"), ("E2E notice rule", "notice")]
# Rules only the e2e's own reads match, one per paging and ticket priority, for the direct push
# by severity (the shipped rules have no page-level rule a host process can trigger safely).
DIRECT_RULES = [("E2E emergency read", "EMERGENCY", "page"), ("E2E error read", "ERROR", "ticket")]


def sim_metrics(count):
    lines = ["# HELP tracewarden_rule_matches_total Rule matches (stand-in exporter of e2e.py).",
             "# TYPE tracewarden_rule_matches_total counter"]
    for rule, prio in SIM_RULES:
        lbl = dict(CONTAINER, rule=rule, priority=prio)
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(lbl.items()))
        lines.append(f"tracewarden_rule_matches_total{{{inner}}} {count}")
    # The stand-in node also runs a behaviour baseline (the real exporter of the e2e does not),
    # so the dashboards' baseline panels have a deviation to show.
    lines += ["# HELP tracewarden_baseline_deviations_total Baseline deviations (stand-in exporter of e2e.py).",
              "# TYPE tracewarden_baseline_deviations_total counter"]
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(dict(CONTAINER, kind="exec").items()))
    lines.append(f"tracewarden_baseline_deviations_total{{{inner}}} {count}")
    return "\n".join(lines) + "\n"


REAL_RULE = "Read sensitive file untrusted"  # rules/10-files.yaml, priority WARNING
# The runc container that breaks REAL_RULE from inside (5c, 6d): a Kubernetes pod's container as
# containerd's CRI plugin annotates it.
POD = {"container_name": "reader", "image": "registry.test/e2e-reader:1", "pod": "e2e-reader-0",
       "namespace": "e2e"}
# (ssl context trusting the e2e CA, Authorization header) once the exporter serves TLS.
EXPORTER_TLS = {}
SCRAPE_USER, SCRAPE_PASSWORD = "prometheus", "e2e-scrape-password"


def web_config(tmp):
    """A CA, a certificate for 127.0.0.1 signed by it, and the exporter's web config with TLS and
    basic auth; returns (web.yml, ca.crt, password file)."""
    d = os.path.join(tmp, "tls")
    os.makedirs(d)

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=tracewarden e2e CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    with open(os.path.join(d, "web.yml"), "w") as f:
        yaml.safe_dump({"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
                        "basic_auth_users": {SCRAPE_USER: bcrypt_hash(SCRAPE_PASSWORD)}}, f)
    password_file = os.path.join(d, "password")
    with open(password_file, "w") as f:
        f.write(SCRAPE_PASSWORD)
    return os.path.join(d, "web.yml"), os.path.join(d, "ca.crt"), password_file


def exporter_get(exporter, path, auth=True, timeout=5):
    """GET from the real exporter: https with the scrape credentials when it serves TLS."""
    if not EXPORTER_TLS:
        return http(f"http://{exporter}{path}", timeout=timeout)
    headers = {"Authorization": EXPORTER_TLS["auth"]} if auth else {}
    req = urllib.request.Request(f"https://{exporter}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout, context=EXPORTER_TLS["ctx"]) as r:
        return r.status, r.read().decode()


def exporter_value(exporter, metric, *match):
    """Sum of the exporter's own /metrics samples of METRIC whose line contains every MATCH."""
    return metric_sum(exporter_get(exporter, "/metrics")[1], metric, *match)


def ring_drops(exporter):
    return exporter_value(exporter, "tracewarden_events_lost_total", 'reason="event_ring_full"')


# The names of this run's readers of /etc/shadow (shadow_reader).
READERS = []


def by_reader(alert, readers):
    """Whether an alert of REAL_RULE is a read by one of `readers`: its output names proc.name.
    Alertmanager keeps one alert per label set and each push replaces its annotations, so a host
    read by another process after ours hides ours (a failure here, never a pass on its read)."""
    return any(f"proc={r} " in alert["annotations"].get("summary", "") for r in readers)


def am_real_alerts(am, reader):
    q = urllib.parse.urlencode({"filter": ['alertname="TracewardenRuleMatch"', f'rule="{REAL_RULE}"',
                                           'container_id="host"']}, doseq=True)
    alerts = json.loads(http(f"http://{am}/api/v2/alerts?{q}", timeout=2)[1])
    return [a for a in alerts if by_reader(a, [reader])]


def shadow_reader(tmp):
    """A copy of cat under a fresh name of 15 characters (all the kernel keeps as proc.name)."""
    name = "twcat" + secrets.token_hex(5)
    shutil.copy("/bin/cat", os.path.join(tmp, name))
    READERS.append(name)
    return name


def read_shadow(tmp, reader):
    """Runs the reader on /etc/shadow; returns the time just before."""
    t = time.time()
    subprocess.run([os.path.join(tmp, reader), "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)
    return t


def runc_container(tmp, script):
    """Starts a runc container (busybox rootfs with an /etc/shadow of its own, the POD's CRI
    annotations, a kubepods cgroup) running `sh -c script`; returns (Popen, short id, start time)."""
    cid = secrets.token_hex(32)
    bundle = os.path.join(tmp, f"bundle-{cid[:12]}")
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    busybox = next(p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p))
    shutil.copy(busybox, os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "cat", "sleep"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    for d in ("proc", "dev", "sys", "tmp", "etc"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    with open(os.path.join(rootfs, "etc", "shadow"), "w") as f:
        f.write("root:*:19000:0:99999:7:::\n")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", script]
    cfg["linux"]["cgroupsPath"] = f"/kubepods/besteffort/pod0a1b2c3d-4e5f-4789-abcd-ef01234567e2/{cid}"
    cfg["annotations"] = {"io.kubernetes.cri.container-name": POD["container_name"],
                          "io.kubernetes.cri.image-name": POD["image"],
                          "io.kubernetes.cri.sandbox-name": POD["pod"],
                          "io.kubernetes.cri.sandbox-namespace": POD["namespace"]}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    t = time.time()
    proc = subprocess.Popen(["runc", "run", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    procs.append((f"runc {cid[:12]}", proc, ""))
    return proc, cid[:12], t


def am_container_alerts(am, short_id):
    q = urllib.parse.urlencode({"filter": ['alertname="TracewardenRuleMatch"', f'rule="{REAL_RULE}"',
                                           f'container_id="{short_id}"']}, doseq=True)
    return json.loads(http(f"http://{am}/api/v2/alerts?{q}", timeout=2)[1])


def rules_dir_with_direct_rules(tmp):
    """The shipped rules plus DIRECT_RULES, each matching a read of its own file under tmp."""
    d = os.path.join(tmp, "rules")
    os.makedirs(d)
    for name in os.listdir(os.path.join(ROOT, "rules")):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(ROOT, "rules", name)) as src, open(os.path.join(d, name), "w") as dst:
                dst.write(src.read())
    rules = []
    for rule, prio, _ in DIRECT_RULES:
        target = direct_rule_file(tmp, rule)
        with open(target, "w") as f:
            f.write("e2e\n")
        rules.append({"rule": rule, "desc": "tracewarden e2e: direct push by severity",
                      "condition": f"open_read and fd.name = {target}",
                      "output": f"{rule} (file=%fd.name proc=%proc.name)", "priority": prio,
                      "tags": ["e2e"]})
    with open(os.path.join(d, "90-e2e.yaml"), "w") as f:
        yaml.safe_dump(rules, f, sort_keys=False)
    return d


def direct_rule_file(tmp, rule):
    return os.path.join(tmp, rule.lower().replace(" ", "-"))


def prom_real_matches(prom, exporter):
    r = query(prom, f'tracewarden_rule_matches_total{{instance="{exporter}", rule="{REAL_RULE}", '
                    'container_id="host"}')
    vals = [float(s["value"][1]) for s in r.get("data", {}).get("result", [])]
    return max(vals) if vals else None
