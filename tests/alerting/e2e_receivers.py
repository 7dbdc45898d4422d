"""The e-mail and WeCom halves of the shipped receivers, for e2e.py: an SMTP sink (Debian's
python3-aiosmtpd writing a Maildir) the shipped email_configs deliver to, and the WeCom API calls
webhook_receiver.py answered for the shipped wechat_configs."""
import email.header
import json
import mailbox
import os
import socket
import subprocess

import yaml

from webhook_receiver import WECOM_TOKEN

# Debian's python3-aiosmtpd belongs to the system interpreter, whatever `python3` is on PATH.
SYSTEM_PYTHON = "/usr/bin/python3"


def smtp_sink_args(port, maildir):
    """The command of an SMTP sink on 127.0.0.1:port that files every message in maildir."""
    return [SYSTEM_PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
            "-c", "aiosmtpd.handlers.Mailbox", maildir]


def smtp_missing():
    """Why the SMTP sink cannot run here, or None."""
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import aiosmtpd"], capture_output=True, text=True)
    return None if r.returncode == 0 else \
        f"{SYSTEM_PYTHON} cannot import aiosmtpd (scripts/bootstrap.sh installs python3-aiosmtpd)"


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _header(msg, name):
    return str(email.header.make_header(email.header.decode_header(msg.get(name, ""))))


def mails(maildir):
    """Every message delivered so far, as {"subject", "to", "text", "html"} (bodies decoded)."""
    if not os.path.isdir(os.path.join(maildir, "new")):
        return []
    out = []
    for msg in mailbox.Maildir(maildir, create=False):
        parts = {"subject": _header(msg, "Subject"), "to": _header(msg, "To"), "text": "", "html": ""}
        for part in msg.walk():
            kind = {"text/plain": "text", "text/html": "html"}.get(part.get_content_type())
            if kind:
                payload = part.get_payload(decode=True) or b""
                parts[kind] += payload.decode(part.get_content_charset() or "utf-8", "replace")
        out.append(parts)
    return out


def mail_problems(mail, to, subject, needles):
    """What the message lacks: its recipient, a subject starting with `subject`, and each needle
    in the text part."""
    problems = []
    if mail["to"] != to:
        problems.append(f"To {mail['to']!r}, want {to!r}")
    if not mail["subject"].startswith(subject):
        problems.append(f"Subject {mail['subject']!r}, want {subject!r}...")
    problems += [f"text part lacks {n!r}" for n in needles if n not in mail["text"]]
    return problems


def wecom_calls(hook_file, receiver):
    """(token requests, message bodies) the WeCom API mock got from `receiver`'s wechat_configs
    (its api_url is rewritten to /receivers/<receiver>/api_url/)."""
    base = f"/receivers/{receiver}/api_url/"
    tokens, messages = [], []
    if os.path.exists(hook_file):
        for line in open(hook_file):
            rec = json.loads(line)
            if rec["path"] == base + "gettoken":
                tokens.append(rec["query"])
            elif rec["path"] == base + "message/send":
                messages.append((rec["query"], rec["body"]))
    return tokens, messages


def wecom_problems(tokens, message, config, token, needles):
    """What a WeCom exchange lacks: a token request with the configured corp id and secret, the
    message sent with that token to the configured agent and party, as text with every needle."""
    query, body = message
    problems = []
    want_token = {"corpid": config["corp_id"], "corpsecret": config["api_secret"]}
    if want_token not in tokens:
        problems.append(f"no gettoken with {want_token}: {tokens}")
    if query.get("access_token") != token:
        problems.append(f"message/send with access_token {query.get('access_token')!r}, want {token!r}")
    want = {"agentid": config["agent_id"], "toparty": config["to_party"], "msgtype": "text"}
    problems += [f"{k}={body.get(k)!r}, want {v!r}" for k, v in want.items() if body.get(k) != v]
    content = body.get("text", {}).get("content", "")
    problems += [f"content lacks {n!r}" for n in needles if n not in content]
    return problems


def check_wecom_and_email(step, wait_until, am_cfg, hook_file, maildir, container, runbook, email_to):
    """e2e.py's check that the stand-in exporter's critical rule paged through WeCom and its
    warning rule was e-mailed, each message naming the rule, the container and the runbook
    (maildir None: no SMTP sink). `step` and `wait_until` are e2e.py's."""
    c = container
    where = f'in container {c["container_name"]} (id {c["container_id"]}, image {c["image"]}, ' \
            f'pod {c["namespace"]}/{c["pod"]})'
    with open(am_cfg) as f:
        page_receiver = next(r for r in yaml.safe_load(f)["receivers"] if r["name"] == "tracewarden-page")
    rule = "E2E critical rule"

    def wecom():
        tokens, messages = wecom_calls(hook_file, "tracewarden-page")
        sent = [m for m in messages if rule in json.dumps(m[1], ensure_ascii=False)]
        return (tokens, sent[0]) if sent else None

    got = wait_until(wecom, 30, 1)
    problems = wecom_problems(
        got[0], got[1], page_receiver["wechat_configs"][0], WECOM_TOKEN,
        [f'Rule "{rule}" (critical)', where, runbook + "tracewardenruleviolationcritical"]) \
        if got else ["no WeCom message/send names the rule"]
    step(f"{rule} pages through WeCom (wechat_configs -> WeCom API mock) with rule, container and runbook",
         not problems, "\n".join(problems) or got[1][1]["text"]["content"].strip())
    if maildir is None:
        return
    rule = "E2E warning rule"
    mail = wait_until(lambda: [m for m in mails(maildir) if f"Rule: {rule} " in m["text"]], 30, 1)
    problems = mail_problems(
        mail[0], email_to, f"[tracewarden] TracewardenRuleViolation {rule} (1 firing)",
        [f'Rule "{rule}" (warning)', where, runbook + "tracewardenruleviolation"]) \
        if mail else [f"no e-mail for {rule}; {len(mails(maildir))} e-mail(s) in all"]
    step(f"{rule} reaches the e-mail receiver (SMTP sink) with rule, container and runbook",
         not problems, "\n".join(problems) or mail[0]["text"].strip())
