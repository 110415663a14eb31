"""A stand-in for GitHub's REST API, for twostage's tests (no real GitHub is reachable here).

Every request is checked against GitHub's published OpenAPI description (the dereferenced
`api.github.com` document of the `@octokit/openapi` package): the method and path must name an
operation of the description (uploads under `/uploads`, as `upload_url` says), required path
and query parameters must be present and of the declared type, and a JSON body must validate
against the operation's request schema. Each request is logged as a JSON line with the
violations found; the tests fail on any. Only the release operations that `promote` uses are
implemented; the responses carry the fields twostage reads, not every field GitHub returns.

Usage: python github_standin.py SPEC PORT LOG   (the expected token in GITHUB_STANDIN_TOKEN)
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jsonschema

SPEC, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TOKEN = __import__("os").environ["GITHUB_STANDIN_TOKEN"]

with open(SPEC) as f:
    spec = json.load(f)

ROUTES = []
for template, item in spec["paths"].items():
    for method, op in item.items():
        if method not in ("get", "post", "patch", "put", "delete"):
            continue
        uploads = any("uploads.github.com" in s.get("url", "") for s in op.get("servers", []))
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        prefix = "/uploads" if uploads else ""
        ROUTES.append((method.upper(), re.compile("^" + prefix + pattern + "$"), op))

STATE = {"releases": {}, "next_id": 1000}


def find(method, path):
    for m, regex, op in ROUTES:
        if m == method:
            match = regex.match(path)
            if match:
                return op, match.groupdict()
    return None, None


def check_type(value, schema):
    kind = schema.get("type")
    if kind == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    return True


def validate(op, params, query, headers, body):
    problems = []
    for p in op.get("parameters", []):
        where, name, schema = p.get("in"), p.get("name"), p.get("schema", {})
        if where == "path":
            if name not in params or not check_type(params[name], schema):
                problems.append(f"path parameter {name!r} is missing or not {schema.get('type')}")
        elif where == "query":
            if name in query:
                if not check_type(query[name][0], schema):
                    problems.append(f"query parameter {name!r} is not {schema.get('type')}")
            elif p.get("required"):
                problems.append(f"required query parameter {name!r} is missing")
    request = op.get("requestBody")
    if request:
        content = request.get("content", {})
        ctype = headers.get("Content-Type", "").split(";")[0].strip()
        if "application/json" in content:
            if not body and request.get("required"):
                problems.append("the required JSON body is missing")
            elif body:
                if ctype != "application/json":
                    problems.append(f"a JSON body sent as {ctype!r}")
                try:
                    document = json.loads(body)
                    schema = content["application/json"]["schema"]
                    for error in jsonschema.Draft7Validator(schema).iter_errors(document):
                        problems.append(f"body: {error.message} at {list(error.absolute_path)}")
                except ValueError as e:
                    problems.append(f"the body is not JSON: {e}")
        elif not ctype:
            problems.append("a body without Content-Type")
    elif body:
        problems.append("a body on an operation that takes none")
    if headers.get("Authorization") != f"Bearer {TOKEN}":
        problems.append("no valid Authorization: Bearer header")
    return problems


def release_json(host, owner, repo, release):
    rid = release["id"]
    return {
        "id": rid,
        "tag_name": release["tag_name"],
        "name": release["name"],
        "body": release["body"],
        "draft": release["draft"],
        "prerelease": release["prerelease"],
        "url": f"http://{host}/repos/{owner}/{repo}/releases/{rid}",
        "html_url": f"https://github.com/{owner}/{repo}/releases/tag/{release['tag_name']}",
        "upload_url": f"http://{host}/uploads/repos/{owner}/{repo}/releases/{rid}/assets{{?name,label}}",
        "assets": [
            {"id": a["id"], "name": a["name"], "size": len(a["data"]), "digest": a["digest"]}
            for a in release["assets"]
        ],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, document=None):
        data = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/_standin/state":
            return self.reply(200, {"releases": [
                {k: v for k, v in r.items() if k not in ("assets", "repo")}
                | {"repository": "/".join(r["repo"]), "assets": [a["name"] for a in r["assets"]]}
                for r in STATE["releases"].values()
            ]})
        op, params = find(self.command, url.path)
        query = parse_qs(url.query)
        if op is None:
            problems = [f"{self.command} {url.path} is no operation of GitHub's OpenAPI description"]
        else:
            is_upload = "upload-release-asset" in op.get("operationId", "")
            problems = validate(op, params, query, self.headers, b"" if is_upload else body)
            if is_upload and not self.headers.get("Content-Type"):
                problems.append("an asset upload without Content-Type")
        with open(LOG, "a") as log:
            log.write(json.dumps({
                "method": self.command, "path": url.path,
                "operation": op and op.get("operationId"), "violations": problems,
            }) + "\n")
        if problems:
            return self.reply(422, {"message": "; ".join(problems)})
        self.dispatch(op["operationId"], params, query, body)

    def dispatch(self, operation, p, query, body):
        host = self.headers.get("Host")
        releases = STATE["releases"]
        if operation == "repos/get-release-by-tag":
            for r in releases.values():
                if r["tag_name"] == p["tag"] and r["repo"] == (p["owner"], p["repo"]):
                    return self.reply(200, release_json(host, p["owner"], p["repo"], r))
            return self.reply(404, {"message": "Not Found"})
        if operation == "repos/create-release":
            doc = json.loads(body)
            repo = (p["owner"], p["repo"])
            if any(r["tag_name"] == doc["tag_name"] and r["repo"] == repo for r in releases.values()):
                return self.reply(422, {"message": "Validation Failed: already_exists tag_name"})
            STATE["next_id"] += 1
            r = {"id": STATE["next_id"], "repo": repo, "tag_name": doc["tag_name"], "name": doc.get("name", ""),
                 "body": doc.get("body", ""), "draft": doc.get("draft", False),
                 "prerelease": doc.get("prerelease", False), "assets": []}
            releases[r["id"]] = r
            return self.reply(201, release_json(host, p["owner"], p["repo"], r))
        if operation == "repos/update-release":
            r = releases.get(int(p["release_id"]))
            if r is None:
                return self.reply(404, {"message": "Not Found"})
            r.update({k: v for k, v in json.loads(body).items() if k in ("name", "body", "prerelease", "draft")})
            return self.reply(200, release_json(host, p["owner"], p["repo"], r))
        if operation == "repos/upload-release-asset":
            r = releases.get(int(p["release_id"]))
            if r is None:
                return self.reply(404, {"message": "Not Found"})
            name = query["name"][0]
            if any(a["name"] == name for a in r["assets"]):
                return self.reply(422, {"message": "Validation Failed: already_exists name"})
            STATE["next_id"] += 1
            digest = "sha256:" + __import__("hashlib").sha256(body).hexdigest()
            r["assets"].append({"id": STATE["next_id"], "name": name, "data": body, "digest": digest})
            return self.reply(201, {"id": STATE["next_id"], "name": name, "size": len(body), "digest": digest})
        if operation == "repos/delete-release-asset":
            for r in releases.values():
                r["assets"] = [a for a in r["assets"] if a["id"] != int(p["asset_id"])]
            return self.reply(204)
        return self.reply(501, {"message": f"{operation} is not implemented by the stand-in"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
