#!/usr/bin/env python3
"""A test webhook receiver on 127.0.0.1: appends every POST as one JSON line to a file.

Usage: webhook_receiver.py OUT.jsonl PORTFILE
Binds 127.0.0.1 on a free port and writes the port number to PORTFILE once listening.
Each line: {"path": "/...", "time": <unix seconds>, "body": <parsed JSON or the raw text>}.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with lock, open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "time": time.time(), "body": body}) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args):
        pass


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
