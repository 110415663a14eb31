"""One mitmdump for a whole test binary, serving every reverse proxy its tests ask for (the fault
proxy, the attestation index stand-in): each gets a listening port of its own on this one
process, with its own upstream and its own addon, so a test pays a route, not a mitmdump start
(0.8 to 1.6 s of CPU each, docs/testing.md).

The first mode (the control port) answers the hub's own requests and passes nothing upstream:

  POST /_hub/routes   {"port", "upstream", "addon", "env"}: listen on 127.0.0.1:port in reverse
                      mode in front of `upstream` (a mode added at run time, as mitmproxy's
                      `mode` option allows: https://docs.mitmproxy.org/stable/concepts/modes/),
                      and run the addon file `addon` on its flows, loaded as a module of its own
                      with `env` set in os.environ while it loads (the addons read their control
                      file's path from there when they load)
  DELETE /_hub/routes/<port>   stop listening there and forget the addon

A flow belongs to the route of the port it arrived on (`client_conn.sockname`); each hook of
this addon passes the flow on to that route's addon. No module-level function here has a
hook's name: mitmproxy calls a script module's own hooks too.
"""

import importlib.util
import inspect
import json
import os

from mitmproxy import ctx, http

# port -> the addon object of that route
ROUTES = {}
# port -> the mode spec that listens there
MODES = {}


def port_of(flow):
    return flow.client_conn.sockname[1] if flow.client_conn.sockname else None


def load_addon(port, path, env):
    """The addon file at `path` as a fresh module, its `addons` list's first object."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location(f"__hub_route_{port}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module.addons[0]


def answer(flow, status, text):
    flow.response = http.Response.make(status, text.encode(), {"Content-Type": "text/plain"})


def control(flow):
    """The hub's own requests on the control port."""
    path = flow.request.path.split("?")[0]
    if flow.request.method == "POST" and path == "/_hub/routes":
        asked = json.loads(flow.request.get_text())
        port = int(asked["port"])
        ROUTES[port] = load_addon(port, asked["addon"], asked.get("env", {}))
        MODES[port] = f"reverse:{asked['upstream']}@{port}"
        ctx.options.update(mode=[*ctx.options.mode, MODES[port]])
        return answer(flow, 200, f"routing {port}")
    if flow.request.method == "DELETE" and path.startswith("/_hub/routes/"):
        port = int(path.rsplit("/", 1)[1])
        ROUTES.pop(port, None)
        mode = MODES.pop(port, None)
        if mode:
            ctx.options.update(mode=[m for m in ctx.options.mode if m != mode])
        return answer(flow, 200, f"stopped {port}")
    if path == "/_hub/":
        return answer(flow, 200, "the proxy hub")
    answer(flow, 404, "not a hub request")


async def forward(hook, flow):
    addon = ROUTES.get(port_of(flow))
    method = getattr(addon, hook, None)
    if method is None:
        return
    result = method(flow)
    if inspect.isawaitable(result):
        await result


class Hub:
    def __init__(self):
        self.control_port = None

    def running(self):
        self.control_port = ctx.options.listen_port

    async def request(self, flow: http.HTTPFlow):
        if port_of(flow) == self.control_port:
            return control(flow)
        await forward("request", flow)

    async def response(self, flow: http.HTTPFlow):
        if port_of(flow) != self.control_port:
            await forward("response", flow)


addons = [Hub()]
