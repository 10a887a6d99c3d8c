#!/usr/bin/env python3
"""Stand-in for the slice of Mailgun's HTTP API the module uses, for the Perl tests.

Usage: python3 tests/mail/mailgun_api.py PORT DOMAIN API_KEY STORE_DIR

  POST /v3/DOMAIN/messages.mime  to (repeatable), message (file part), v:* variables
  POST /v3/DOMAIN/messages       from, to, subject, text, html, v:*
  POST /_fail?status=500&count=2 next `count` API requests answer `status`, nothing stored
  POST /_slow?seconds=5&count=1  next `count` API requests sleep first, then answer normally
  GET  /_messages                JSON list of everything stored, in arrival order

Accepted messages land in STORE_DIR/<n>.json (n = 1, 2, ...). Prints `ready` once listening.
"""
import base64, email.message, email.parser, json, os, secrets, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, DOMAIN, API_KEY, STORE_DIR = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.makedirs(STORE_DIR, exist_ok=True)

lock = threading.Lock()  # guards the fault plans and the message counter
faults = {"fail": None, "slow": None}  # each: [value, remaining count]
stored = len([f for f in os.listdir(STORE_DIR) if f.endswith(".json")])


class RawPart(email.message.Message):
    # libcurl sends the message part as message/rfc822; the parser would then re-parse it
    # into a nested Message, and re-serialising that need not reproduce the exact bytes.
    # Reporting it as a leaf makes the parser keep the part's payload verbatim.
    def get_content_maintype(self):
        maintype = super().get_content_maintype()
        return "application" if maintype == "message" else maintype


def parse_form(content_type, body):
    """Returns {name: [str, ...]} from a multipart/form-data or urlencoded body."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    msg = email.parser.BytesParser(_class=RawPart).parsebytes(head + body)
    fields = {}
    if msg.is_multipart():
        for part in msg.get_payload():
            name = part.get_param("name", header="content-disposition")
            if name is not None:
                data = part.get_payload(decode=True) or b""
                fields.setdefault(name, []).append(data.decode("utf-8", "replace"))
    return fields


def take_fault(kind):
    """Consumes one use of the `kind` fault plan; returns its value or None."""
    with lock:
        plan = faults[kind]
        if not plan:
            return None
        plan[1] -= 1
        if plan[1] <= 0:
            faults[kind] = None
        return plan[0]


def store(record):
    global stored
    with lock:
        stored += 1
        path = os.path.join(STORE_DIR, f"{stored}.json")
        # Tests poll the directory, so a file must never be seen half-written.
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.rename(path + ".tmp", path)


def stored_messages():
    names = [f for f in os.listdir(STORE_DIR) if f.endswith(".json")]
    out = []
    for name in sorted(names, key=lambda f: int(f.split(".")[0])):
        with open(os.path.join(STORE_DIR, name), encoding="utf-8") as f:
            out.append(json.load(f))
    return out


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so libcurl's "Expect: 100-continue" is answered at once instead of
    # costing a one-second wait on every large POST.
    protocol_version = "HTTP/1.1"

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers, up to the closing blank line
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size + 2)[:size])  # drop the chunk's CRLF
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def reply(self, status, payload, content_type="application/json"):
        body = (json.dumps(payload) if content_type == "application/json" else payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlsplit(self.path).path == "/_messages":
            return self.reply(200, stored_messages())
        self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        # Always drain the body first so a keep-alive connection stays in sync.
        url = urlsplit(self.path)
        body = self.read_body()
        params = parse_qs(url.query)
        for name, values in parse_form(self.headers.get("Content-Type", ""), body).items():
            params.setdefault(name, []).extend(values)

        if url.path in ("/_fail", "/_slow"):
            kind, key, default = (("fail", "status", 500) if url.path == "/_fail"
                                  else ("slow", "seconds", 5))
            value = float(params.get(key, [default])[0])
            with lock:
                faults[kind] = [int(value) if kind == "fail" else value,
                                int(params.get("count", [1])[0])]
            return self.reply(200, {"message": "ok"})

        parts = url.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "v3" or parts[2] not in ("messages", "messages.mime"):
            return self.reply(404, {"message": "Not Found"})

        status = take_fault("fail")
        if status is not None:
            return self.reply(status, {"message": "injected failure"})
        delay = take_fault("slow")
        if delay:
            time.sleep(delay)

        if self.headers.get("Authorization") != "Basic " + base64.b64encode(
                f"api:{API_KEY}".encode()).decode():
            return self.reply(401, "Forbidden", "text/plain")
        if parts[1] != DOMAIN:
            return self.reply(404, {"message": f"Domain not found: {parts[1]}"})

        mime = parts[2] == "messages.mime"
        required = ["to", "message"] if mime else ["from", "to"]
        for name in required:
            if not params.get(name):
                return self.reply(400, {"message": f"{name} parameter is missing"})

        msg_id = f"<{time.strftime('%Y%m%d%H%M%S', time.gmtime())}.{secrets.token_hex(6)}@{DOMAIN}>"
        record = {"to": params["to"]}
        for name in ["message"] if mime else ["from", "subject", "text", "html"]:
            record[name] = params.get(name, [""])[0]
        record["variables"] = {k[2:]: v[0] for k, v in params.items() if k.startswith("v:")}
        record["id"] = msg_id
        store(record)
        self.reply(200, {"id": msg_id, "message": "Queued. Thank you."})

    def log_request(self, code="-", size="-"):
        # One line per request; headers (and so the API key) are never logged.
        sys.stderr.write(f"mailgun_api: {self.command} {self.path} {code}\n")


def on_sigterm(signum, frame):
    raise SystemExit(0)  # unwinds serve_forever() in the main thread


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    # A request stuck in /_slow (or a half-sent body) must not delay exit: server_close()
    # would otherwise join every handler thread, daemon or not.
    server.daemon_threads, server.block_on_close = True, False
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
