"""A stand-in for trusted publishing, for twostage's tests: an index's `/_/oidc/audience` and
`/_/oidc/mint-token` endpoints and GitHub Actions' OIDC token service (`/token`), following
the request and response shapes PyPI and GitHub document (https://docs.pypi.org/trusted-publishers/internals/).

It also takes `POST /_/oidc/burn-token` with `{"token": …}` as Warehouse does, answering 202
(or `burn_status` with a body that echoes the token, to test that no body is ever shown).

Usage: python oidc_standin.py PORT CONTROL LOG. CONTROL is a JSON file read on every request:
{"audience", "request_token", "jwt", "minted", "expires_in", "error_code", "numbered",
"burn_status"}; with `numbered`, each mint gives `<minted>-<n>`, a new token each time, as an
index does. LOG gets a JSON line per request with what was checked; tokens appear in it only as
`token_sha256`, the first 16 hex digits of their sha256.
"""

import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, CONTROL, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mints = 0

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

    def burn(self, c, token):
        self.record({"endpoint": "burn", "token_sha256": digest(token)})
        status = c.get("burn_status", 202)
        if status != 202:
            return self.reply(status, {"message": f"cannot burn {token}"})
        return self.reply(202, {"success": True})

    def do_POST(self):
        c = json.load(open(CONTROL))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        try:
            token = json.loads(body).get("token")
        except (ValueError, AttributeError):
            token = None
        if path == "/_/oidc/burn-token":
            return self.burn(c, token)
        if path != "/_/oidc/mint-token":
            return self.reply(404, {"message": "Not Found"})
        entry = {"endpoint": "mint", "token_ok": token == c["jwt"]}
        if c.get("error_code") or token != c["jwt"]:
            self.record(entry)
        if c.get("error_code"):
            return self.reply(422, {
                "message": "Token request failed",
                "errors": [{"code": c["error_code"], "description": "described by the index"}],
            })
        if token != c["jwt"]:
            return self.reply(422, {"message": "Token request failed",
                                    "errors": [{"code": "invalid-token", "description": "malformed"}]})
        minted = c["minted"]
        if c.get("numbered"):
            Handler.mints += 1
            minted = f"{minted}-{Handler.mints}"
        self.record({**entry, "token_sha256": digest(minted)})
        return self.reply(200, {"success": True, "token": minted,
                                "expires": int(time.time()) + c["expires_in"]})


def digest(token):
    return hashlib.sha256(str(token).encode()).hexdigest()[:16]


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
