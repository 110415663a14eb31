"""A stand-in for trusted publishing, for twostage's tests: an index's `/_/oidc/audience` and
`/_/oidc/mint-token` endpoints and GitHub Actions' OIDC token service (`/token`), following
the request and response shapes PyPI and GitHub document (https://docs.pypi.org/trusted-publishers/internals/).

Usage: python oidc_standin.py PORT CONTROL LOG. CONTROL is a JSON file read on every request:
{"audience", "request_token", "jwt", "minted", "expires_in", "error_code"}; LOG gets a JSON line
per request with what was checked.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, CONTROL, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, entry):
        with open(LOG, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def do_GET(self):
        c = json.load(open(CONTROL))
        url = urlsplit(self.path)
        if url.path == "/_/oidc/audience":
            self.record({"endpoint": "audience"})
            return self.reply(200, {"audience": c["audience"]})
        if url.path == "/token":
            query = parse_qs(url.query)
            ok_auth = self.headers.get("Authorization") == "bearer " + c["request_token"]
            ok_audience = query.get("audience") == [c["audience"]]
            self.record({"endpoint": "token", "auth": ok_auth, "audience": ok_audience})
            if not ok_auth:
                return self.reply(401, {"message": "bad request token"})
            return self.reply(200, {"count": 1, "value": c["jwt"]})
        return self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        c = json.load(open(CONTROL))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if urlsplit(self.path).path != "/_/oidc/mint-token":
            return self.reply(404, {"message": "Not Found"})
        try:
            token = json.loads(body).get("token")
        except ValueError:
            token = None
        self.record({"endpoint": "mint", "token_ok": token == c["jwt"]})
        if c.get("error_code"):
            return self.reply(422, {
                "message": "Token request failed",
                "errors": [{"code": c["error_code"], "description": "described by the index"}],
            })
        if token != c["jwt"]:
            return self.reply(422, {"message": "Token request failed",
                                    "errors": [{"code": "invalid-token", "description": "malformed"}]})
        return self.reply(200, {"success": True, "token": c["minted"],
                                "expires": int(time.time()) + c["expires_in"]})


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
