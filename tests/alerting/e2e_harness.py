"""Process and HTTP plumbing of the alerting end-to-end tests (e2e.py, response_e2e.py): each
step's PASS/FAIL and the tally, processes started in groups of their own and killed on exit,
bounded waits, Prometheus and webhook queries. Loopback only."""
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

results = []
procs = []
TMPDIRS = []


def step(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}")
    if detail:
        print("\n".join("    " + ln for ln in str(detail).splitlines()))


def note(msg):
    print(f"  .. {msg}", flush=True)


def start(name, args, logdir):
    log = open(os.path.join(logdir, f"{name}.log"), "w")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    procs.append((name, p, log.name))
    return p


def stop_all():
    for name, p, _ in reversed(procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # the group this test created for it
            except ProcessLookupError:
                continue
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)


def log_tail(name, n=15):
    for pname, _, path in procs:
        if pname == name:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
    return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(url, data=None, timeout=3):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_until(fn, timeout, interval=1.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(interval)
    return None


def ready(url):
    return lambda: http(url)[0] == 200


def notifications(path, file):
    out = []
    if os.path.exists(file):
        for line in open(file):
            rec = json.loads(line)
            if rec["path"] == path:
                out.append(rec["body"])
    return out


def query(prom, expr):
    url = f"http://{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        _, body = http(url, timeout=10)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
    return json.loads(body)


def poll_until(fn, deadline):
    """The time fn() first held, polled every 20 ms until deadline, or None."""
    while time.time() < deadline:
        try:
            if fn():
                return time.time()
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.02)
    return None


def bcrypt_hash(password):
    """A $2b$ hash from the C library's libcrypt (Python's crypt module is gone in 3.13)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", 10, None, 0)
    hashed = lib.crypt(password.encode(), salt) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        raise OSError("libcrypt made no bcrypt hash")
    return hashed.decode()


def metric_sum(text, metric, *match):
    """Sum of the samples of METRIC in a /metrics text whose line contains every MATCH."""
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(metric + "{") or line.startswith(metric + " ")) \
                and all(m in line for m in match):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run(main, *args, cleanup=None):
    """Runs main(*args); then (also on SIGTERM/SIGINT) runs cleanup, kills every started process
    and removes TMPDIRS (kept with E2E_KEEP=1); prints the tally and exits 0 only when at least
    one step ran and none failed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    try:
        main(*args)
    finally:
        if cleanup:
            cleanup()
        stop_all()
        if os.environ.get("E2E_KEEP") != "1":
            for d in TMPDIRS:
                shutil.rmtree(d, ignore_errors=True)
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)
