"""A mitmproxy addon for twostage's tests: a reverse proxy in front of a local index (pypiserver,
devpi) that takes PEP 740 attestations as Warehouse's legacy upload does
(https://peps.python.org/pep-0740/, https://docs.pypi.org/attestations/producing-attestations/,
pypi/warehouse `warehouse/forklift/legacy.py` and `warehouse/attestations/services.py`), and
serves what it stored as provenance.

Uploads:
- a token whose password starts with `minted_prefix` is a trusted-publishing token: its upload
  goes on upstream with `upstream_auth` instead; any other credential goes on as it is;
- an identical re-upload of a file stored through this proxy answers 200 before the
  attestations are read, and stores nothing (as Warehouse does);
- `attestations`, when given: a 400 with an API token ("only supported when using Trusted
  Publishing"); the field must be a non-empty JSON array of at most two attestation objects
  (`version` 1, `verification_material` with a `certificate` and `transparency_entries`, an
  `envelope` with a Base64 in-toto v1 `statement` and a `signature`), one per supported
  predicate, each with one subject: this file's name and sha256; else a 400;
- `refuse_uploads` in the control file: answer every upload with that status.

Pages: `hide_from_pages` ({filename: N}) leaves a file out of the next N project pages (an
index whose page lags behind what it stored).

Provenance: `GET /integrity/<project>/<version>/<file>/provenance` answers a PEP 740
provenance object with the file's stored attestations (404 if none), and PEP 691 JSON project
pages get a `provenance` URL for such files. What this cannot do is check a signature: the
Sigstore certificate, transparency log entry and signature are taken as given.

The control file (JSON, re-read on every request, its path in ATTEST_INDEX_CONTROL) holds
`url` (this proxy's own), `minted_prefix`, `upstream_auth`, `refuse_uploads`,
`hide_from_pages`. Stored files are in `<control>.store`; each upload, provenance read and
hidden page is a JSON line in `<control>.events`.
"""

import base64
import binascii
import hashlib
import json
import os
import re

from mitmproxy import http

CONTROL = os.environ["ATTEST_INDEX_CONTROL"]
STORE = CONTROL + ".store"
STATE = CONTROL + ".state"
EVENTS = CONTROL + ".events"

PREDICATES = {
    "https://docs.pypi.org/attestations/publish/v1",
    "https://slsa.dev/provenance/v1",
}
INVALID = "Invalid attestations supplied during upload: "


def read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def event(entry):
    with open(EVENTS, "a") as f:
        f.write(json.dumps(entry) + "\n")


def reply(flow, status, message):
    """An error as Warehouse gives it: the message in the status line and the JSON body."""
    flow.response = http.Response.make(
        status, json.dumps({"message": message}), {"Content-Type": "application/json"}
    )
    flow.response.reason = message


def password(flow):
    header = flow.request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return ""
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def statement_of(attestation):
    """The attestation object's in-toto statement, or a reason it has none."""
    if not isinstance(attestation, dict) or attestation.get("version") != 1:
        return None, "not a version 1 attestation object"
    material = attestation.get("verification_material")
    if not isinstance(material, dict) or not isinstance(material.get("certificate"), str):
        return None, "no verification_material.certificate"
    entries = material.get("transparency_entries")
    if not isinstance(entries, list) or not entries:
        return None, "no verification_material.transparency_entries"
    envelope = attestation.get("envelope")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signature"), str):
        return None, "no envelope.signature"
    try:
        statement = json.loads(base64.b64decode(envelope.get("statement", ""), validate=True))
    except (binascii.Error, ValueError, TypeError):
        return None, "envelope.statement is not Base64 JSON"
    if not isinstance(statement, dict) or statement.get("_type") != "https://in-toto.io/Statement/v1":
        return None, "the statement is not an in-toto v1 statement"
    return statement, None


def problem(raw, name, sha256, trusted):
    """What Warehouse would refuse in this upload's attestations, or None."""
    if not trusted:
        return INVALID + "Attestations are only supported when using Trusted Publishing"
    try:
        attestations = json.loads(raw)
    except ValueError:
        return INVALID + "malformed attestations: not JSON"
    if not isinstance(attestations, list) or not attestations:
        return INVALID + "malformed attestations: not a non-empty JSON array"
    if len(attestations) > 2:
        return INVALID + "Too many attestations: at most 2 are allowed"
    seen = set()
    for attestation in attestations:
        statement, why = statement_of(attestation)
        if why:
            return INVALID + "malformed attestations: " + why
        predicate = statement.get("predicateType")
        if predicate not in PREDICATES:
            return INVALID + f"Attestation with unsupported predicate type: {predicate}"
        if predicate in seen:
            return INVALID + f"Multiple attestations for the same predicate type: {predicate}"
        seen.add(predicate)
        subjects = statement.get("subject") or []
        subject = subjects[0] if len(subjects) == 1 and isinstance(subjects[0], dict) else {}
        if subject.get("name") != name or (subject.get("digest") or {}).get("sha256") != sha256:
            return INVALID + "the attestation's subject is not this file's name and sha256"
    return None


def fields(flow):
    """The multipart form's fields (RFC 7578) by name, as bytes, and the uploaded file's name."""
    ctype = flow.request.headers.get("content-type", "")
    boundary = ctype.partition("boundary=")[2].strip('"').encode()
    form, filename = {}, ""
    for part in flow.request.raw_content.split(b"--" + boundary)[1:]:
        head, _, body = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="([^"]*)"(; filename="([^"]*)")?', head)
        if not found:
            continue
        key = found.group(1).decode()
        form[key] = body[:-2] if body.endswith(b"\r\n") else body
        if key == "content" and found.group(3):
            filename = found.group(3).decode()
    return form, filename


class AttestIndex:
    def request(self, flow: http.HTTPFlow):
        c = read_json(CONTROL, {})
        path = flow.request.path.split("?")[0]
        found = re.fullmatch(r"/integrity/([^/]+)/([^/]+)/([^/]+)/provenance", path)
        if found and flow.request.method == "GET":
            return self.provenance(flow, found.group(3))
        if flow.request.method != "POST" or b":action" not in flow.request.raw_content:
            # Pages unencoded, so that `response` can add provenance URLs.
            flow.request.headers["accept-encoding"] = "identity"
            return
        self.upload(flow, c)

    def provenance(self, flow, name):
        stored = read_json(STORE, {}).get(name)
        found = bool(stored and stored["attestations"])
        event({"provenance_read": name, "found": found})
        if not found:
            return reply(flow, 404, "Not Found")
        bundle = {
            "publisher": {"kind": "GitHub", "repository": "stand-in/stand-in", "workflow": "release.yml"},
            "attestations": stored["attestations"],
        }
        flow.response = http.Response.make(
            200,
            json.dumps({"version": 1, "attestation_bundles": [bundle]}),
            {"Content-Type": "application/vnd.pypi.integrity.v1+json"},
        )

    def upload(self, flow, c):
        form, name = fields(flow)
        content = form.get("content", b"")
        sha256 = hashlib.sha256(content).hexdigest()
        trusted = bool(c.get("minted_prefix")) and password(flow).startswith(c["minted_prefix"])
        raw = form.get("attestations")
        entry = {"upload": name, "trusted": trusted, "attestations": None}
        if raw is not None:
            try:
                parsed = json.loads(raw)
                entry["attestations"] = [
                    (statement_of(a)[0] or {}).get("subject") for a in parsed
                ] if isinstance(parsed, list) else "not a list"
            except ValueError:
                entry["attestations"] = "not JSON"
        stored = read_json(STORE, {}).get(name)
        if c.get("refuse_uploads"):
            status, message = c["refuse_uploads"], "refused by the stand-in"
        elif stored and stored["sha256"] == sha256:
            status, message = 200, "identical re-upload: nothing stored"
        else:
            message = problem(raw, name, sha256, trusted) if raw is not None else None
            status = 400 if message else None
        if status:
            event({**entry, "status": status, "message": message})
            return reply(flow, status, message)
        if trusted:
            flow.request.headers["authorization"] = c["upstream_auth"]
        flow.metadata["attest_index"] = {
            "entry": entry,
            "name": name,
            "sha256": sha256,
            "attestations": json.loads(raw) if raw is not None else [],
        }

    def response(self, flow: http.HTTPFlow):
        pending = flow.metadata.get("attest_index")
        if pending:
            status = flow.response.status_code
            event({**pending["entry"], "status": status})
            if status == 200:
                store = read_json(STORE, {})
                store[pending["name"]] = {
                    "sha256": pending["sha256"],
                    "attestations": pending["attestations"],
                }
                with open(STORE, "w") as f:
                    json.dump(store, f)
            return
        if flow.request.method != "GET" or flow.response.status_code != 200:
            return
        ctype = flow.response.headers.get("content-type", "")
        if "vnd.pypi.simple.v1+json" in ctype:
            self.add_provenance_urls(flow)
        if re.search(r"/simple/[^/]+/?$", flow.request.path.split("?")[0]):
            self.hide(flow, "json" in ctype)

    def hide(self, flow, is_json):
        """Leaves the files of `hide_from_pages` out of the next N project pages each."""
        c = read_json(CONTROL, {})
        state = read_json(STATE, {})
        hidden = []
        for name, count in c.get("hide_from_pages", {}).items():
            if state.get(name, 0) < count and name in flow.response.text:
                state[name] = state.get(name, 0) + 1
                hidden.append(name)
        if not hidden:
            return
        with open(STATE, "w") as f:
            json.dump(state, f)
        if is_json:
            page = json.loads(flow.response.text)
            page["files"] = [f for f in page.get("files", []) if f.get("filename") not in hidden]
            flow.response.text = json.dumps(page)
        else:
            text = flow.response.text
            for name in hidden:
                text = re.sub(r"<a [^>]*>" + re.escape(name) + r"</a>(<br\s*/?>)?", "", text)
            flow.response.text = text
        event({"hidden": hidden})

    def add_provenance_urls(self, flow):
        c = read_json(CONTROL, {})
        store = read_json(STORE, {})
        try:
            page = json.loads(flow.response.text)
        except ValueError:
            return
        project = page.get("name", "")
        for file in page.get("files", []):
            name = file.get("filename", "")
            if store.get(name, {}).get("attestations"):
                version = name[len(project) + 1:].split("-")[0].removesuffix(".tar.gz")
                file["provenance"] = f"{c['url']}/integrity/{project}/{version}/{name}/provenance"
        flow.response.text = json.dumps(page)


addons = [AttestIndex()]
