"""A stand-in for GitHub's REST API, for twostage's tests (no real GitHub is reachable here).

Every request is checked against GitHub's published OpenAPI description (the dereferenced
`api.github.com` document of the `@octokit/openapi` package): the method and path must name an
operation of the description (uploads under `/uploads`, as `upload_url` says), required path
and query parameters must be present and of the declared type, and a JSON body must validate
against the operation's request schema. Each request is logged as a JSON line with the
violations found; the tests fail on any. Only the release operations that `promote` and
`audit` use are implemented; the responses carry the fields twostage reads, not every field
GitHub returns.

It behaves as GitHub does with immutable releases on
(https://docs.github.com/en/code-security/supply-chain-security/understanding-your-software-supply-chain/immutable-releases):
a release is published once (`draft: false`) and is then immutable; an asset upload to it is
answered 422 "Cannot upload assets to an immutable release" (GitHub's words, as projects
report them: openedx/sample-plugin#57, voidzero-dev/vite-plus#1558), and deleting or editing
its assets is refused the same way (the message for those is not confirmed). Drafts are
listed only to an authenticated request and `GET /releases/tags/{tag}` returns published
releases only, as GitHub's REST description says. Read operations need no token (GitHub
serves public releases to anyone); a write without the token, or a wrong token, is a
violation.

Test controls, outside GitHub's API: `GET /_standin/state`; `POST /_standin/tamper`
(`{"repository", "tag", "asset", "text"}`: replace an asset's bytes, as a repository without
immutable releases would allow its owner); `POST /_standin/fail` (`{"repository",
"operation", "skip", "times"}`: answer 502 to `times` requests of that operation on that
repository after letting `skip` through).

Usage: python github_standin.py SPEC PORT LOG   (the expected token in GITHUB_STANDIN_TOKEN)
"""

import hashlib
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

STATE = {"releases": {}, "next_id": 1000, "faults": []}
IMMUTABLE = "Cannot upload assets to an immutable release"


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


def validate(method, op, params, query, headers, body):
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
    auth = headers.get("Authorization")
    if auth is not None and auth != f"Bearer {TOKEN}":
        problems.append("an Authorization header that is not the Bearer token")
    elif auth is None and method != "GET":
        problems.append("a write without an Authorization: Bearer header")
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
        "immutable": release["immutable"],
        "published_at": release["published_at"],
        "assets": [asset_json(host, owner, repo, a) for a in release["assets"]],
    }


def asset_json(host, owner, repo, a):
    return {
        "id": a["id"], "name": a["name"], "size": len(a["data"]), "digest": a["digest"],
        "url": f"http://{host}/repos/{owner}/{repo}/releases/assets/{a['id']}",
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

    def reply_bytes(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def control(self, path, body):
        if path == "/_standin/state":
            return self.reply(200, {"releases": [
                {k: v for k, v in r.items() if k not in ("assets", "repo")}
                | {"repository": "/".join(r["repo"]), "assets": [a["name"] for a in r["assets"]]}
                for r in STATE["releases"].values()
            ]})
        doc = json.loads(body)
        if path == "/_standin/fail":
            STATE["faults"].append(doc)
            return self.reply(200, {})
        if path == "/_standin/tamper":
            repo = tuple(doc["repository"].split("/"))
            for r in STATE["releases"].values():
                if r["repo"] == repo and r["tag_name"] == doc["tag"]:
                    for a in r["assets"]:
                        if a["name"] == doc["asset"]:
                            a["data"] = doc["text"].encode()
                            a["digest"] = "sha256:" + hashlib.sha256(a["data"]).hexdigest()
                            return self.reply(200, {})
        return self.reply(404, {"message": "no such asset"})

    def fault(self, operation, params):
        repo = f"{params.get('owner')}/{params.get('repo')}"
        for f in STATE["faults"]:
            if f["operation"] == operation and f["repository"] == repo:
                if f.get("skip", 0) > 0:
                    f["skip"] -= 1
                elif f.get("times", 0) > 0:
                    f["times"] -= 1
                    return True
        return False

    def handle_any(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/_standin/"):
            return self.control(url.path, body)
        op, params = find(self.command, url.path)
        query = parse_qs(url.query)
        if op is None:
            problems = [f"{self.command} {url.path} is no operation of GitHub's OpenAPI description"]
        else:
            is_upload = "upload-release-asset" in op.get("operationId", "")
            problems = validate(self.command, op, params, query, self.headers, b"" if is_upload else body)
            if is_upload and not self.headers.get("Content-Type"):
                problems.append("an asset upload without Content-Type")
        document = None
        if body and "json" in self.headers.get("Content-Type", ""):
            try:
                document = json.loads(body)
            except ValueError:
                pass
        with open(LOG, "a") as log:
            log.write(json.dumps({
                "method": self.command, "path": url.path,
                "operation": op and op.get("operationId"), "violations": problems,
                "authenticated": "Authorization" in self.headers, "json": document,
            }) + "\n")
        if problems:
            return self.reply(422, {"message": "; ".join(problems)})
        if self.fault(op["operationId"], params):
            return self.reply(502, {"message": "Server Error (a fault the test asked for)"})
        self.dispatch(op["operationId"], params, query, body)

    def dispatch(self, operation, p, query, body):
        host = self.headers.get("Host")
        releases = STATE["releases"]
        repo = (p.get("owner"), p.get("repo"))
        authenticated = "Authorization" in self.headers
        ours = [r for r in releases.values() if r["repo"] == repo]
        if operation == "repos/list-releases":
            # Drafts only to those with push access (here: the token).
            visible = [r for r in ours if authenticated or not r["draft"]]
            visible.sort(key=lambda r: -r["id"])
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            chunk = visible[(page - 1) * per_page:page * per_page]
            return self.reply(200, [release_json(host, *repo, r) for r in chunk])
        if operation == "repos/get-release-by-tag":
            for r in ours:
                if r["tag_name"] == p["tag"] and not r["draft"]:
                    return self.reply(200, release_json(host, *repo, r))
            return self.reply(404, {"message": "Not Found"})
        if operation == "repos/create-release":
            doc = json.loads(body)
            if any(r["tag_name"] == doc["tag_name"] for r in ours):
                return self.reply(422, {"message": "Validation Failed: already_exists tag_name"})
            STATE["next_id"] += 1
            draft = doc.get("draft", False)
            r = {"id": STATE["next_id"], "repo": repo, "tag_name": doc["tag_name"], "name": doc.get("name", ""),
                 "body": doc.get("body", ""), "draft": draft, "immutable": not draft,
                 "published_at": None if draft else "2026-12-03T00:00:00Z",
                 "prerelease": doc.get("prerelease", False), "assets": []}
            releases[r["id"]] = r
            return self.reply(201, release_json(host, *repo, r))
        if operation == "repos/update-release":
            r = releases.get(int(p["release_id"]))
            if r is None or r["repo"] != repo:
                return self.reply(404, {"message": "Not Found"})
            doc = json.loads(body)
            if r["immutable"] and (doc.get("draft") is True or "tag_name" in doc or "target_commitish" in doc):
                return self.reply(422, {"message": "Cannot change the tag or draft state of an immutable release"})
            r.update({k: v for k, v in doc.items() if k in ("name", "body", "prerelease", "draft")})
            if not r["draft"] and not r["immutable"]:
                r["immutable"], r["published_at"] = True, "2026-12-03T00:00:00Z"
            return self.reply(200, release_json(host, *repo, r))
        if operation == "repos/upload-release-asset":
            r = releases.get(int(p["release_id"]))
            if r is None or r["repo"] != repo:
                return self.reply(404, {"message": "Not Found"})
            if r["immutable"]:
                return self.reply(422, {"message": IMMUTABLE})
            name = query["name"][0]
            if any(a["name"] == name for a in r["assets"]):
                return self.reply(422, {"message": "Validation Failed: already_exists name"})
            STATE["next_id"] += 1
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            asset = {"id": STATE["next_id"], "name": name, "data": body, "digest": digest}
            r["assets"].append(asset)
            return self.reply(201, asset_json(host, *repo, asset))
        found = [(r, a) for r in ours for a in r["assets"] if a["id"] == int(p.get("asset_id", -1))]
        if operation in ("repos/get-release-asset", "repos/delete-release-asset", "repos/update-release-asset"):
            if not found or (found[0][0]["draft"] and not authenticated):
                return self.reply(404, {"message": "Not Found"})
            r, a = found[0]
            if operation == "repos/get-release-asset":
                if self.headers.get("Accept") == "application/octet-stream":
                    return self.reply_bytes(200, a["data"])
                return self.reply(200, asset_json(host, *repo, a))
            if r["immutable"]:
                return self.reply(422, {"message": "Cannot modify assets of an immutable release"})
            if operation == "repos/delete-release-asset":
                r["assets"] = [x for x in r["assets"] if x["id"] != a["id"]]
                return self.reply(204)
        return self.reply(501, {"message": f"{operation} is not implemented by the stand-in"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
