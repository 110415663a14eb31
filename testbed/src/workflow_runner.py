"""A local runner for the GitHub Actions workflows `init --ci github` writes.

Runs a workflow's jobs on this machine in dependency order (`needs:`), one matrix cell after
another, each `run:` step as written under `bash --noprofile --norc -eo pipefail` (GitHub's
default shell on Linux, https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstepsshell),
and the `uses:` steps by local equivalents:

- actions/checkout: a full clone of the origin, the pushed tag checked out (detached);
- actions/upload-artifact / download-artifact: a folder per artifact (file modes are not kept,
  as the real artifacts, which are zip files, do not keep them);
- actions/setup-python: the matrix interpreter, `$(pyenv prefix <version>)/bin` first on PATH;
- astral-sh/setup-uv: the uv given in the configuration, first on PATH.

A step's `$GITHUB_OUTPUT` becomes `steps.<id>.outputs`, and each line it appends to
`$GITHUB_PATH` goes first on PATH for the job's later steps, as on GitHub.

`${{ … }}` expressions are evaluated for the forms the templates use: `github.ref_name`,
`github.ref`, `github.token`, `matrix.*`, `needs.<job>.result`, `needs.<job>.outputs.*`,
`steps.<id>.outputs.*`, `secrets.*` (none: empty), `endsWith`, `startsWith`, `contains`,
`success()`, `failure()`, `cancelled()`, `always()`, `!`, `&&`, `||`, `==`, `!=`.

Each job gets only the environment its permissions give: `ACTIONS_ID_TOKEN_REQUEST_URL` and
`_TOKEN` only with `id-token: write`, and `github.token` only with a `contents` permission (the
configuration's token for that level: each job's and each level's is distinct). While a step
runs, the environment of every process of it (`/proc/<pid>/environ`, sampled) is appended to
the job's dump file, for the test to read.

Usage: workflow_runner.py CONFIG.json; writes `<runner dir>/result.json`.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time

from ruamel.yaml import YAML


# --- expressions -----------------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\)|,)|(?P<num>\d+(?:\.\d+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_.\-*]*))")


def tokenize(text):
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read the expression `{text}` at {pos}")
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    return tokens


class Expr:
    """A recursive-descent evaluator of the expression subset the templates use."""

    def __init__(self, text, context):
        self.tokens = tokenize(text)
        self.i = 0
        self.context = context
        self.text = text

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if value is not None and token[1] != value:
            raise ValueError(f"expected `{value}` in `{self.text}`")
        self.i += 1
        return token

    def evaluate(self):
        value = self.or_()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing tokens in `{self.text}`")
        return value

    def or_(self):
        value = self.and_()
        while self.peek()[1] == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self):
        value = self.compare()
        while self.peek()[1] == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self):
        value = self.unary()
        while self.peek()[1] in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            equal = str(value).lower() == str(right).lower()
            value = equal if op == "==" else not equal
        return value

    def unary(self):
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "id":
            if self.peek()[1] == "(":
                self.take("(")
                args = []
                while self.peek()[1] != ")":
                    args.append(self.or_())
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                return call(value, args, self.context)
            if value in ("true", "false"):
                return value == "true"
            return lookup(value, self.context)
        raise ValueError(f"unexpected `{value}` in `{self.text}`")


def truthy(value):
    return value not in (None, False, "", 0, 0.0)


def call(name, args, context):
    lower = name.lower()
    status = context.get("_status", "success")
    if lower == "endswith":
        return str(args[0]).lower().endswith(str(args[1]).lower())
    if lower == "startswith":
        return str(args[0]).lower().startswith(str(args[1]).lower())
    if lower == "contains":
        return str(args[1]).lower() in str(args[0]).lower()
    if lower == "success":
        return status == "success"
    if lower == "failure":
        return status == "failure"
    if lower == "cancelled":
        return False
    if lower == "always":
        return True
    raise ValueError(f"the runner does not know the function `{name}`")


def lookup(path, context):
    value = context
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, "")
        else:
            return ""
    return value


STATUS_FUNCTIONS = re.compile(r"\b(success|failure|cancelled|always)\s*\(")


def condition(text, context):
    """A job's or step's `if:`: without a status function it is `success() && (…)`."""
    if text is None or text == "":
        return context.get("_status", "success") == "success"
    text = str(text).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not STATUS_FUNCTIONS.search(text):
        text = f"success() && ({text})"
    return truthy(Expr(text, context).evaluate())


INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}")


def interpolate(value, context):
    if not isinstance(value, str):
        return value

    def one(m):
        result = Expr(m.group(1), context).evaluate()
        if isinstance(result, bool):
            return "true" if result else "false"
        if isinstance(result, float) and result.is_integer():
            return str(int(result))
        return "" if result is None else str(result)

    return INTERPOLATION.sub(one, value)


# --- the runner ------------------------------------------------------------------------


class Runner:
    def __init__(self, config):
        self.config = config
        self.workflow = YAML(typ="safe").load(open(config["workflow"]))
        self.root = config["workspace_root"]
        self.dir = config["runner_dir"]
        self.artifacts = os.path.join(self.dir, "artifacts")
        os.makedirs(self.artifacts, exist_ok=True)
        self.results = {}  # job name -> {"result", "outputs"}
        self.record = {"jobs": []}

    def order(self):
        jobs = self.workflow["jobs"]
        done, order = set(), []
        while len(order) < len(jobs):
            ready = [n for n, j in jobs.items() if n not in done and all(d in done for d in needs_of(j))]
            if not ready:
                raise ValueError("the jobs' `needs` form a cycle")
            for name in ready:
                done.add(name)
                order.append(name)
        return order

    def run(self):
        for name in self.order():
            self.run_job(name, self.workflow["jobs"][name])
        path = os.path.join(self.dir, "result.json")
        with open(path, "w") as f:
            json.dump(self.record, f, indent=2)
        failed = [j for j in self.record["jobs"] if j["result"] == "failure"]
        return 1 if failed else 0

    def base_context(self, name, job, matrix):
        needs = {d: self.results.get(d, {"result": "skipped", "outputs": {}}) for d in needs_of(job)}
        ref_name = self.config["ref_name"]
        statuses = [n["result"] for n in needs.values()]
        status = "success" if all(s == "success" for s in statuses) else "failure"
        return {
            "github": {
                "ref_name": ref_name,
                "ref": f"refs/tags/{ref_name}",
                "token": self.token_for(name, job),
                "event_name": "push",
            },
            "matrix": matrix,
            "needs": needs,
            "secrets": {},
            "steps": {},
            "runner": {"os": "Linux"},
            "_status": status,
        }

    def permissions(self, job):
        perms = job.get("permissions", self.workflow.get("permissions"))
        if perms is None:
            raise ValueError("a job without `permissions:` (the repository's default) is not run here")
        if isinstance(perms, str):
            raise ValueError(f"`permissions: {perms}` is not run here")
        return perms

    def token_for(self, name, job):
        level = self.permissions(job).get("contents")
        creds = self.config["credentials"].get(name, {})
        if level in ("read", "write"):
            return creds.get(f"contents:{level}", "")
        return ""

    def job_env(self, name, job, workspace, home, temp):
        env = dict(self.config["base_env"])
        ref_name = self.config["ref_name"]
        env.update({
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REF_NAME": ref_name,
            "GITHUB_REF": f"refs/tags/{ref_name}",
            "GITHUB_REF_TYPE": "tag",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_JOB": name,
            "GITHUB_WORKSPACE": workspace,
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": temp,
            "HOME": home,
        })
        if self.permissions(job).get("id-token") == "write":
            oidc = self.config["credentials"].get(name, {}).get("id-token:write")
            if oidc:
                env["ACTIONS_ID_TOKEN_REQUEST_URL"] = oidc["url"]
                env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = oidc["token"]
        return env

    def cells(self, job):
        matrix = (job.get("strategy") or {}).get("matrix")
        if not matrix:
            return [{}]
        keys = [k for k in matrix if k not in ("include", "exclude")]
        return [dict(zip(keys, values)) for values in itertools.product(*(matrix[k] for k in keys))]

    def run_job(self, name, job):
        results = []
        fail_fast = (job.get("strategy") or {}).get("fail-fast", True)
        outputs = {}
        for matrix in self.cells(job):
            cell = name + "".join(f"-{v}" for v in matrix.values())
            context = self.base_context(name, job, matrix)
            runs_on = interpolate(job.get("runs-on", ""), context)
            entry = {"job": name, "cell": cell, "matrix": matrix, "runs-on": runs_on, "steps": []}
            if not condition(job.get("if"), context):
                entry["result"] = "skipped"
            elif not runs_on.startswith("ubuntu-") or runs_on.endswith("-arm"):
                # Only Linux on this machine's architecture runs here.
                entry["result"] = "not-run-here"
            elif fail_fast and "failure" in results:
                entry["result"] = "cancelled"
            else:
                entry["result"] = self.run_cell(name, job, cell, context, entry, outputs)
            results.append(entry["result"])
            self.record["jobs"].append(entry)
            print(f"[runner] {cell}: {entry['result']}", flush=True)
        ran = [r for r in results if r in ("success", "failure")]
        if "failure" in results:
            result = "failure"
        elif ran:
            result = "success"
        else:
            result = "skipped"
        self.results[name] = {"result": result, "outputs": outputs}

    def run_cell(self, name, job, cell, context, entry, outputs):
        base = os.path.join(self.root, f"ci-{cell}")
        workspace, home, temp = base, os.path.join(self.dir, "home", cell), os.path.join(self.dir, "temp", cell)
        for d in (home, temp):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        shutil.rmtree(workspace, ignore_errors=True)
        os.makedirs(workspace)
        env = self.job_env(name, job, workspace, home, temp)
        dump = os.path.join(self.dir, "dumps", f"{cell}.env")
        os.makedirs(os.path.dirname(dump), exist_ok=True)
        entry["dump"] = dump
        log = os.path.join(self.dir, "logs", f"{cell}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        entry["log"] = log
        with open(dump, "w"), open(log, "w"):
            pass
        # The job's `if` saw the status of its needs; its steps start from its own.
        context["_status"] = "success"
        for i, step in enumerate(job.get("steps", [])):
            context["env"] = env
            label = step.get("name") or step.get("uses") or f"step {i}"
            if not condition(step.get("if"), context):
                entry["steps"].append({"name": label, "result": "skipped"})
                continue
            with open(log, "a") as f:
                f.write(f"=== {label}\n")
            code = self.run_step(step, env, context, workspace, dump, log, i)
            entry["steps"].append({"name": label, "result": "success" if code == 0 else "failure", "exit": code})
            if code != 0:
                context["_status"] = "failure"
        for key, value in (job.get("outputs") or {}).items():
            outputs[key] = interpolate(value, context)
        return context["_status"]

    def run_step(self, step, env, context, workspace, dump, log, i):
        step_env = dict(env)
        for key, value in (step.get("env") or {}).items():
            step_env[key] = interpolate(value, context)
        with_ = {k: interpolate(v, context) for k, v in (step.get("with") or {}).items()}
        if "uses" in step:
            try:
                self.uses(step["uses"], with_, env, workspace, log)
                return 0
            except Exception as e:  # a failed action is a failed step
                with open(log, "a") as f:
                    f.write(f"{step['uses']}: {e}\n")
                return 1
        script = interpolate(step["run"], context)
        script_path = os.path.join(env["RUNNER_TEMP"], f"step-{i}.sh")
        with open(script_path, "w") as f:
            f.write(script)
        output_file = os.path.join(env["RUNNER_TEMP"], f"output-{i}")
        open(output_file, "w").close()
        step_env["GITHUB_OUTPUT"] = output_file
        path_file = os.path.join(env["RUNNER_TEMP"], f"path-{i}")
        open(path_file, "w").close()
        step_env["GITHUB_PATH"] = path_file
        cwd = os.path.join(workspace, step.get("working-directory", ""))
        with open(log, "a") as out:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", script_path],
                cwd=cwd, env=step_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
            with open(dump, "a") as d:
                d.write(f"### step {i} env given\n")
                d.write("\n".join(f"{k}={v}" for k, v in sorted(step_env.items())) + "\n")
            seen = set()
            while process.poll() is None:
                sample_environs(process.pid, seen, dump)
                time.sleep(0.05)
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": read_outputs(output_file)}
        # Each line of $GITHUB_PATH goes first on PATH for the job's later steps
        # (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-system-path).
        with open(path_file) as f:
            for directory in f.read().splitlines():
                if directory.strip():
                    prepend_path(env, directory.strip())
        return process.returncode

    def uses(self, uses, with_, env, workspace, log):
        action = uses.split("@")[0]
        if action == "actions/checkout":
            ref = self.config["ref_name"]
            run(["git", "clone", "--quiet", self.config["origin"], workspace], env, log)
            run(["git", "-C", workspace, "checkout", "--quiet", "--detach", f"refs/tags/{ref}"], env, log)
        elif action == "actions/setup-python":
            version = str(with_.get("python-version", ""))
            prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True, check=True).stdout.strip()
            prepend_path(env, os.path.join(prefix, "bin"))
        elif action == "astral-sh/setup-uv":
            prepend_path(env, self.config["uv_dir"])
        elif action == "actions/upload-artifact":
            self.upload(with_, workspace)
        elif action == "actions/download-artifact":
            self.download(with_, workspace)
        else:
            raise ValueError(f"the runner has no local equivalent of `{uses}`")

    def upload(self, with_, workspace):
        name = with_["name"]
        target = os.path.join(self.artifacts, name)
        if os.path.exists(target):
            raise ValueError(f"an artifact named `{name}` exists already (artifacts are immutable)")
        import glob
        paths = []
        for pattern in str(with_["path"]).splitlines():
            paths.extend(glob.glob(os.path.join(workspace, pattern.strip())))
        if not paths:
            if with_.get("if-no-files-found", "warn") == "error":
                raise ValueError(f"no files for the artifact `{name}`")
            return
        os.makedirs(target)
        for path in paths:
            if os.path.isdir(path):
                copy_tree(path, target)
            else:
                shutil.copyfile(path, os.path.join(target, os.path.basename(path)))

    def download(self, with_, workspace):
        dest = os.path.join(workspace, with_.get("path", "."))
        os.makedirs(dest, exist_ok=True)
        if "name" in with_:
            source = os.path.join(self.artifacts, with_["name"])
            if not os.path.isdir(source):
                raise ValueError(f"no artifact named `{with_['name']}`")
            copy_tree(source, dest)
            return
        import fnmatch
        pattern = with_.get("pattern", "*")
        merge = str(with_.get("merge-multiple", "false")).lower() == "true"
        for name in sorted(os.listdir(self.artifacts)):
            if fnmatch.fnmatch(name, pattern):
                copy_tree(os.path.join(self.artifacts, name), dest if merge else os.path.join(dest, name))


def needs_of(job):
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def prepend_path(env, directory):
    env["PATH"] = directory + os.pathsep + env.get("PATH", "")


def copy_tree(source, dest):
    """Copies files without their modes: an artifact is a zip file, which keeps none."""
    for base, _, files in os.walk(source):
        rel = os.path.relpath(base, source)
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for f in files:
            shutil.copyfile(os.path.join(base, f), os.path.join(dest, rel, f))


def run(command, env, log):
    with open(log, "a") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)


def read_outputs(path):
    outputs = {}
    for line in open(path).read().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return outputs


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def sample_environs(pid, seen, dump):
    """Appends the environment of every process of the step not seen before."""
    for p in descendants(pid):
        try:
            environ = open(f"/proc/{p}/environ", "rb").read()
            cmdline = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ")[:200]
        except OSError:
            continue
        key = (p, environ)
        if key in seen:
            continue
        seen.add(key)
        with open(dump, "ab") as d:
            d.write(b"### /proc/" + str(p).encode() + b"/environ " + cmdline + b"\n")
            d.write(environ.replace(b"\0", b"\n") + b"\n")


def main():
    config = json.load(open(sys.argv[1]))
    sys.exit(Runner(config).run())


if __name__ == "__main__":
    main()
