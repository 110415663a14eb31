"""A mitmproxy addon for twostage's fault tests: a reverse proxy in front of a local index
that misbehaves as the test says. The control file (JSON, re-read on every request) holds:

  upload_503, upload_429   answer the next N uploads with 503 / 429 (429 with Retry-After: 1)
  drop_before_upload       drop the next N uploads before the index sees them
  drop_after_store         let the index store the next N uploads, then drop the reply
  hold_seconds             hold every request this long before passing it on
  refuse_upload            {filename: status}: answer every upload of that file with this
                           status (a refusal another try does not change)
  lag_seconds              leave files uploaded through the proxy less than this long ago out
                           of project pages (a lagging CDN)
  wrong_sha256             {filename: sha256} to serve on project pages instead of the real one
  garbage_pages            answer the next N project pages with garbage
  flap_pages               once `flap_after_uploads` uploads went through, serve the project
                           pages after them as this list says, one entry per page: "has" passes
                           the page, "lacks" leaves out every file uploaded through the proxy (a
                           CDN serving an older page); later pages pass. Each of these pages is
                           logged as `page <has|lacks> <user agent's first word>`

Counters are kept in a state file beside the control file. Each event is logged to `events`,
as is every upload (`POST <file>`) and every file download (`GET <file>`). Each upload that
arrives also logs `inflight <N>`: how many uploads the proxy holds or waits on the index for
at that moment, itself included (the uploads in flight at once, seen from the server's side).
"""

import asyncio
import json
import os
import re
import time

from mitmproxy import ctx, http

CONTROL = os.environ["FAULT_PROXY_CONTROL"]
STATE = CONTROL + ".state"
EVENTS = CONTROL + ".events"


def read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def event(text):
    with open(EVENTS, "a") as f:
        f.write(text + "\n")


def take(name):
    """Uses up one of the control's N for `name`; True while any are left."""
    control = read_json(CONTROL, {})
    state = read_json(STATE, {})
    used = state.get(name, 0)
    if used < control.get(name, 0):
        state[name] = used + 1
        write_json(STATE, state)
        return True
    return False


def flap(control, flow, uploads):
    """What `flap_pages` makes of this page: "has", "lacks", or None when it does not apply."""
    pages = control.get("flap_pages")
    if not pages or uploads < control.get("flap_after_uploads", 1):
        return None
    if not re.search(r"/simple/[^/]+/?$", flow.request.path):
        return None
    state = read_json(STATE, {})
    served = state.get("flap_served", 0)
    state["flap_served"] = served + 1
    write_json(STATE, state)
    kind = pages[served] if served < len(pages) else "has"
    agent = (flow.request.headers.get("user-agent") or "-").split()[0]
    event(f"page {kind} {agent}")
    return kind


# A wheel or sdist file's path, its name in the group.
DOWNLOAD = re.compile(r"/([^/]+\.(?:whl|tar\.gz|zip))$")


# The uploads that arrived and have no answer yet (mitmproxy runs every flow in one process).
IN_FLIGHT = set()


def upload_started(flow):
    IN_FLIGHT.add(flow.id)
    event(f"inflight {len(IN_FLIGHT)}")


def upload_ended(flow):
    IN_FLIGHT.discard(flow.id)


def is_upload(flow):
    return flow.request.method == "POST" and b":action" in flow.request.raw_content


def uploaded_name(flow):
    match = re.search(rb'name="content"; filename="([^"]+)"', flow.request.raw_content)
    return match.group(1).decode() if match else None


class Faults:
    async def request(self, flow: http.HTTPFlow):
        control = read_json(CONTROL, {})
        upload = is_upload(flow)
        if upload:
            upload_started(flow)
        if control.get("hold_seconds"):
            await asyncio.sleep(control["hold_seconds"])
        downloaded = DOWNLOAD.search(flow.request.path.split("?")[0])
        if flow.request.method == "GET" and downloaded:
            # Every file download is logged too, so that tests count what a run fetched.
            event(f"GET {downloaded.group(1)}")
        if not upload:
            return
        name = uploaded_name(flow)
        # Every upload request is logged, so that tests count uploads where they arrive.
        event(f"POST {name}")
        refused = control.get("refuse_upload", {}).get(name)
        if refused:
            event(f"refused {name}")
            flow.response = http.Response.make(refused, b"Refused by the fault proxy")
        elif take("upload_503"):
            event(f"503 {name}")
            flow.response = http.Response.make(503, b"Service Unavailable")
        elif take("upload_429"):
            event(f"429 {name}")
            flow.response = http.Response.make(429, b"Too Many Requests", {"Retry-After": "1"})
        elif take("drop_before_upload"):
            event(f"drop-before {name}")
            flow.kill()
        if flow.response is not None or flow.error is not None:
            upload_ended(flow)

    def error(self, flow: http.HTTPFlow):
        upload_ended(flow)

    def response(self, flow: http.HTTPFlow):
        control = read_json(CONTROL, {})
        if is_upload(flow):
            upload_ended(flow)
            name = uploaded_name(flow)
            if flow.response.status_code == 200 and name:
                state = read_json(STATE, {})
                state.setdefault("uploaded_at", {})[name] = time.time()
                write_json(STATE, state)
            if take("drop_after_store"):
                event(f"drop-after {name} ({flow.response.status_code})")
                flow.kill()
            return
        if flow.request.method != "GET" or flow.response.status_code != 200:
            return
        if take("garbage_pages"):
            event(f"garbage {flow.request.path}")
            flow.response.text = "<<garbage>> {not: [json"
            return
        text = flow.response.text or ""
        lag = control.get("lag_seconds", 0)
        uploaded = read_json(STATE, {}).get("uploaded_at", {})
        recent = [name for name, at in uploaded.items() if time.time() - at < lag]
        for name in recent:
            if name in text:
                event(f"lag {name}")
        if flap(control, flow, len(uploaded)) == "lacks":
            recent = list(uploaded)
        for name in recent:
            text = re.sub(r"<a [^>]*>" + re.escape(name) + r"</a>(<br\s*/?>)?", "", text)
        for name, sha in control.get("wrong_sha256", {}).items():
            text = re.sub(
                r"(" + re.escape(name) + r"#sha256=)[0-9a-f]{64}", r"\g<1>" + sha, text
            )
        if recent or control.get("wrong_sha256"):
            flow.response.text = text


addons = [Faults()]
