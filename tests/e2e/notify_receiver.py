#!/usr/bin/python3
"""Records what notification targets receive, for the e2e tests.

    notify_receiver.py http PORTFILE LOG   webhooks and pings: every request
    notify_receiver.py smtp PORTFILE LOG   a real SMTP server (aiosmtpd)

Each arrival is one JSON line in LOG: {"kind", "method", "path", "body"}
for HTTP, {"kind": "smtp", "from", "to", "data"} for mail. The port chosen
(loopback only) is written to PORTFILE once the server listens.
"""
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

kind, portfile, log = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


def record(entry):
    with lock, open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def ready(port):
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(portfile + ".tmp", portfile)


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20)).decode("utf-8", "replace")
        record({"kind": "http", "method": self.command, "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": body, "at": time.time()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST = handle_any

    def log_message(self, *args):
        pass


def serve_http():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready(srv.server_address[1])
    srv.serve_forever()


def serve_smtp():
    from aiosmtpd.controller import Controller

    class Saver:
        async def handle_DATA(self, server, session, envelope):
            record({"kind": "smtp", "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf-8", "replace"),
                    "at": time.time()})
            return "250 OK"

    for _ in range(50):
        port = random.randint(20000, 60000)
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.close()
        except OSError:
            continue
        ctl = Controller(Saver(), hostname="127.0.0.1", port=port)
        ctl.start()
        ready(port)
        while True:
            time.sleep(3600)
    sys.exit("no free port")


if kind == "http":
    serve_http()
else:
    serve_smtp()
