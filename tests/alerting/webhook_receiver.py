#!/usr/bin/env python3
"""A test webhook receiver on 127.0.0.1: appends every POST as one JSON line to a file. It also
answers as WeCom's API (企业微信, what Alertmanager's wechat_configs call): `GET .../gettoken`
hands out an access token, and `POST .../message/send` is answered as WeCom does (errcode 0, or
40014 for a wrong token), so Alertmanager's WeCom notifier completes against it.

Usage: webhook_receiver.py OUT.jsonl PORTFILE
Binds 127.0.0.1 on a free port and writes the port number to PORTFILE once listening.
Each line: {"path": "/...", "query": {...}, "time": <unix seconds>, "body": <parsed JSON or the
raw text>}; a token request is a line too, with body null.
"""
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
# The access token WeCom's gettoken hands out here; message/send must carry it.
WECOM_TOKEN = "e2e-wecom-access-token"


def record(path, query, body):
    with lock, open(sys.argv[1], "a") as f:
        f.write(json.dumps({"path": path, "query": query, "time": time.time(), "body": body}) + "\n")


class Handler(BaseHTTPRequestHandler):
    def split(self):
        url = urllib.parse.urlsplit(self.path)
        return url.path, dict(urllib.parse.parse_qsl(url.query))

    def reply(self, content_type, body):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path, query = self.split()
        record(path, query, None)
        if path.endswith("/gettoken") and query.get("corpid") and query.get("corpsecret"):
            self.reply("application/json", json.dumps(
                {"errcode": 0, "errmsg": "ok", "access_token": WECOM_TOKEN, "expires_in": 7200}))
        else:
            self.reply("application/json", json.dumps({"errcode": 40013, "errmsg": "invalid corpid"}))

    def do_POST(self):
        path, query = self.split()
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        record(path, query, body)
        if path.endswith("/message/send"):
            ok = query.get("access_token") == WECOM_TOKEN
            self.reply("application/json", json.dumps(
                {"errcode": 0, "errmsg": "ok"} if ok else {"errcode": 40014, "errmsg": "invalid access_token"}))
        else:
            self.reply("text/plain", "ok")

    def log_message(self, fmt, *args):
        pass


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
