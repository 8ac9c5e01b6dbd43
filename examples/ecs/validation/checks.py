#!/usr/bin/env python3
"""Offline checks of examples/ecs: run by ../validate, which installs what
this needs (jsonschema, PyYAML; @cdktf/hcl2json and the AWS provider's
schema from @cdktf/provider-aws) and parses the Terraform files first.

No AWS account and no Terraform binary are involved. What is checked:

1. task-definition.json against schema/task-definition.schema.json, as a
   template and rendered the way Terraform's templatefile renders it.
2. The task definition and the Terraform against ../../supervisor.yaml:
   environment, secrets, ports, stop and drain times, health checks.
3. The Terraform as a configuration: every file parsed by HCL's own parser,
   every reference declared, templatefile's variables matching the JSON's
   placeholders, the S3 backend's settings, the tfvars example.
4. Every resource, data source and provider block against the AWS
   provider's schema (argument and block names, required arguments).

Each finding prints as "ok", "FAIL" or "warn"; the exit status is 1 when
anything failed.
"""

import argparse
import copy
import json
import re
import sys
import tarfile
from pathlib import Path

import jsonschema
import yaml

ECS = Path(__file__).resolve().parent.parent  # examples/ecs
REPO = ECS.parent.parent
TASK_JSON = ECS / "task-definition.json"
SCHEMA = ECS / "schema" / "task-definition.schema.json"
SUPERVISOR_YAML = REPO / "supervisor.yaml"
DOCKERFILE = REPO / "Dockerfile"
TF = ECS / "terraform"

# supervise's own numbers that the deployment must fit around.
HEALTH_COMMAND_TIMEOUT = 4  # src/status.rs: `supervise health` gives up after 4 s
DEFAULT_DRAIN_TIMEOUT = 20  # src/config/proxy.rs
DEFAULT_STOP_TIMEOUT = 10  # src/config/processes.rs
DEFAULT_CLIENT_IDLE = 75  # src/config/types.rs: proxy.timeouts.client_idle
STOP_MARGIN = 5  # seconds between supervise's worst case and ECS's SIGKILL

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}


class Report:
    def __init__(self):
        self.failed = 0
        self.warned = 0
        self.passed = 0

    def section(self, title):
        print(f"\n== {title}")

    def ok(self, message):
        self.passed += 1
        print(f"  ok    {message}")

    def fail(self, message):
        self.failed += 1
        print(f"  FAIL  {message}")

    def warn(self, message):
        self.warned += 1
        print(f"  warn  {message}")

    def check(self, condition, message, failure=None):
        if condition:
            self.ok(message)
        else:
            self.fail(failure or message)
        return condition


def seconds(text, default):
    """`15s`, `1m30s`, `250ms`, `1.5s` -> seconds; None -> default."""
    if text is None:
        return default
    total = 0.0
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"not a duration: {text!r}")
    for number, unit in parts:
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def expr(value):
    """The expression inside a whole-value "${...}" string, else None."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        inner = value[2:-1]
        if "${" not in inner:
            return inner.strip()
    return None


def strings_in(node):
    """Every string anywhere in a parsed HCL value."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)
    elif isinstance(node, dict):
        for key, item in node.items():
            yield key
            yield from strings_in(item)


# ---------------------------------------------------------------- Terraform model


class Module:
    """The blocks of one Terraform module (a folder of .tf files)."""

    def __init__(self, folder, parsed):
        self.folder = folder
        self.files = {f: body for f, body in parsed.items() if Path(f).parent == folder and f.endswith(".tf")}
        self.variables, self.locals, self.outputs = {}, {}, {}
        self.resources, self.data = {}, {}
        self.terraform, self.providers = [], {}
        for body in self.files.values():
            for name, blocks in body.get("variable", {}).items():
                self.variables[name] = blocks[0]
            for block in body.get("locals", []):
                self.locals.update(block)
            for name, blocks in body.get("output", {}).items():
                self.outputs[name] = blocks[0]
            for kind, named in body.get("resource", {}).items():
                for name, blocks in named.items():
                    self.resources[(kind, name)] = blocks[0]
            for kind, named in body.get("data", {}).items():
                for name, blocks in named.items():
                    self.data[(kind, name)] = blocks[0]
            self.terraform.extend(body.get("terraform", []))
            for name, blocks in body.get("provider", {}).items():
                self.providers[name] = blocks[0]

    def default(self, variable):
        return self.variables.get(variable, {}).get("default")

    def resource(self, kind, name="this"):
        return self.resources.get((kind, name))

    def value(self, value, fallback=None):
        """A literal, or the default of the variable it names; None when it
        is another expression or an undeclared or default-less variable."""
        if value is None:
            return fallback
        inner = expr(value)
        if inner is None:
            return value
        ref = re.fullmatch(r"var\.(\w+)", inner)
        return self.default(ref.group(1)) if ref else None


def render_like_templatefile(template, values):
    """Terraform's templatefile for a template that only has ${NAME}
    interpolations: fails on any other template syntax, as a reviewer
    would want to know."""
    if "%{" in template or "$${" in template:
        raise ValueError("template directives or $${ escapes: keep task-definition.json to plain ${NAME} placeholders")

    def one(match):
        name = match.group(1)
        if not IDENT.match(name):
            raise ValueError(f"${{{name}}} is not a plain variable name")
        if name not in values:
            raise ValueError(f"${{{name}}} has no value in the templatefile call (Terraform would fail: vars map lacks {name})")
        return values[name]

    return PLACEHOLDER.sub(one, template)


# ---------------------------------------------------------------- 1. task definition


def check_task_definition(report, module, tfvars):
    report.section("task-definition.json against schema/task-definition.schema.json")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    report.ok("the schema itself is valid JSON Schema (draft 2020-12)")
    validator = jsonschema.Draft202012Validator(schema)

    template = TASK_JSON.read_text()
    task = json.loads(template)
    errors = sorted(validator.iter_errors(task), key=lambda e: list(e.absolute_path))
    for error in errors:
        report.fail(f"template: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}")
    if not errors:
        report.ok("the template (with ${...} placeholders) passes the schema")

    # The values Terraform passes to templatefile, read from main.tf's call;
    # var.* take the tfvars example's value, else the variable's default.
    call = None
    for value in module.locals.values():
        if isinstance(value, str) and "templatefile(" in value and "task-definition.json" in value:
            call = value
    if not report.check(call is not None, "main.tf renders ../task-definition.json with templatefile"):
        return task, None
    passed = dict(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(.+?)\s*$", call, re.M))
    placeholders = set(PLACEHOLDER.findall(template))
    report.check(
        set(passed) == placeholders,
        f"templatefile passes exactly the JSON's placeholders ({', '.join(sorted(placeholders))})",
        f"templatefile passes {sorted(set(passed) - placeholders)} that the JSON lacks, "
        f"and lacks {sorted(placeholders - set(passed))} that the JSON has",
    )
    samples = {
        "data.aws_vpc.this.cidr_block": "10.0.0.0/16",
        "local.execution_role_arn": "arn:aws:iam::123456789012:role/supervise-execution",
    }
    values = {}
    for name, expression in passed.items():
        expression = expression.strip()
        ref = re.fullmatch(r"var\.(\w+)", expression)
        if ref:
            var = ref.group(1)
            values[name] = str(tfvars.get(var, module.default(var)))
        elif expression in samples:
            values[name] = samples[expression]
        elif re.fullmatch(r'"/ecs/\$\{var\.name\}"', expression):
            values[name] = f"/ecs/{module.default('name')}"
        else:
            values[name] = f"sample-{name.lower()}"
    try:
        rendered = json.loads(render_like_templatefile(template, values))
    except (ValueError, json.JSONDecodeError) as error:
        report.fail(f"rendering like templatefile: {error}")
        return task, None
    report.ok("rendered with the tfvars example's values, it is still valid JSON")
    errors = sorted(validator.iter_errors(rendered), key=lambda e: list(e.absolute_path))
    for error in errors:
        report.fail(f"rendered: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}")
    if not errors:
        report.ok("the rendered task definition passes the schema (ARNs, image, names in their real form)")

    # A few mistakes the schema must catch, so that a green run means something.
    must_fail = {
        "initProcessEnabled: true": lambda t: t["containerDefinitions"][0]["linuxParameters"].update(initProcessEnabled=True),
        "stopTimeout: 121": lambda t: t["containerDefinitions"][0].update(stopTimeout=121),
        "cpu 512 with memory 512": lambda t: t.update(memory="512"),
        "a misspelt key (stopTimeOut)": lambda t: t["containerDefinitions"][0].update(stopTimeOut=30),
        "pidMode: task": lambda t: t.update(pidMode="task"),
        "a tmpfs mount": lambda t: t["containerDefinitions"][0]["linuxParameters"].update(tmpfs=[]),
        "networkMode: bridge": lambda t: t.update(networkMode="bridge"),
        "a health check timeout of 1": lambda t: t["containerDefinitions"][0]["healthCheck"].update(timeout=1),
    }
    missed = []
    for what, mutate in must_fail.items():
        broken = copy.deepcopy(rendered)
        mutate(broken)
        if validator.is_valid(broken):
            missed.append(what)
    report.check(not missed, f"the schema rejects {len(must_fail)} known-bad variants ({', '.join(must_fail)})",
                 f"the schema accepts known-bad variants: {missed}")
    return task, rendered


# ---------------------------------------------------------------- 2. against supervisor.yaml


def check_against_supervisor(report, task, module):
    report.section(f"task definition and Terraform against {SUPERVISOR_YAML.relative_to(REPO)}")
    text = SUPERVISOR_YAML.read_text()
    config = yaml.safe_load(text)
    container = task["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}

    # Every ${VAR} without a default must be set, or `supervise up` exits 2.
    used = {}
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}", text):
        used.setdefault(match.group(1), match.group(2) is not None)
    for name, has_default in sorted(used.items()):
        where = "environment" if name in env else "secrets" if name in secrets else None
        if where:
            report.ok(f"${{{name}}} is set ({where})")
        elif has_default:
            report.warn(f"${{{name}}} is not set: supervisor.yaml's default applies")
        else:
            report.fail(f"${{{name}}} is used without a default but not set: supervise would exit 2")
    both = set(env) & set(secrets)
    report.check(not both, "no name is both in environment and in secrets", f"in both environment and secrets: {sorted(both)}")

    # Values that are secrets must come from Secrets Manager, never plain environment.
    auth = config.get("auth") or {}
    secret_values = [auth.get("client_secret")] + list((auth.get("session") or {}).get("secrets") or [])
    for value in secret_values:
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", str(value or "")):
            report.check(name in secrets and name not in env, f"{name} comes from Secrets Manager (secrets:), not environment",
                         f"{name} is a secret in supervisor.yaml but is not in the task definition's secrets:")

    # The listener port.
    proxy = config.get("proxy") or {}
    listen = str(proxy.get("listen", ""))
    port_match = re.search(r":\$\{PORT(?::-(\d+))?\}$", listen) or re.search(r":(\d+)$", listen)
    container_port = container["portMappings"][0]["containerPort"]
    if "${PORT" in listen:
        report.check(env.get("PORT") == str(container_port),
                     f"PORT={env.get('PORT')} (proxy.listen {listen}) is the container port {container_port}",
                     f"PORT={env.get('PORT')} but the container port is {container_port}")
    elif port_match:
        report.check(int(port_match.group(1)) == container_port, f"proxy.listen {listen} is the container port")
    for mapping in container["portMappings"]:
        report.check(mapping.get("hostPort", mapping["containerPort"]) == mapping["containerPort"],
                     f"hostPort equals containerPort {mapping['containerPort']} (awsvpc requires it)")
    report.check(listen.startswith("0.0.0.0:") or listen.startswith("[::]:"),
                 "proxy.listen is on every interface (the load balancer reaches the task's ENI)",
                 f"proxy.listen {listen} is not reachable from the load balancer")

    # Stop: ECS waits stopTimeout after SIGTERM, then SIGKILLs. supervise drains
    # for up to drain_timeout, then stops processes in reverse order, one after
    # another, each for up to its stop_timeout.
    drain = seconds(proxy.get("drain_timeout"), DEFAULT_DRAIN_TIMEOUT)
    processes = config.get("processes") or {}
    stops = {name: seconds((p or {}).get("stop_timeout"), DEFAULT_STOP_TIMEOUT) for name, p in processes.items()}
    needed = drain + sum(stops.values())
    stop_timeout = container.get("stopTimeout", 30)
    report.check(
        stop_timeout >= needed + STOP_MARGIN,
        f"stopTimeout {stop_timeout}s >= drain_timeout {drain:g}s + stop_timeout {' + '.join(f'{s:g}s' for s in stops.values())} + {STOP_MARGIN}s margin",
        f"stopTimeout {stop_timeout}s < drain_timeout {drain:g}s + stop_timeouts {sum(stops.values()):g}s + {STOP_MARGIN}s: ECS would SIGKILL a clean shutdown",
    )

    # The container health check is `supervise health`, which reads health.path.
    check = container.get("healthCheck", {})
    report.check(check.get("command", [])[:3] == ["CMD", "supervise", "health"],
                 "healthCheck runs `supervise health` (exec form: the image needs no shell or curl)")
    report.check(check.get("timeout", 5) > HEALTH_COMMAND_TIMEOUT,
                 f"healthCheck timeout {check.get('timeout')}s > the {HEALTH_COMMAND_TIMEOUT}s after which `supervise health` answers by itself",
                 f"healthCheck timeout {check.get('timeout')}s: ECS would give up before `supervise health` does ({HEALTH_COMMAND_TIMEOUT}s) and log no reason")
    report.check(check.get("interval", 30) > check.get("timeout", 5), "healthCheck interval is longer than its timeout")
    # The backend is "starting" until its ready probe passes; ECS counts no
    # failure during startPeriod. ECS gives up on a never-ready task after
    # startPeriod + retries x interval.
    ready = [n for n, p in processes.items() if (p or {}).get("ready")]
    report.ok(f"a never-ready backend ({', '.join(ready) or 'none probed'}) fails the task after "
              f"{check.get('startPeriod', 0) + check.get('retries', 3) * check.get('interval', 30)}s "
              f"(startPeriod {check.get('startPeriod')}s + {check.get('retries')} x {check.get('interval')}s)")

    init = (container.get("linuxParameters") or {}).get("initProcessEnabled")
    report.check(init is not True, "initProcessEnabled is not true: supervise is PID 1 and reaps orphans itself")
    report.check("pidMode" not in task, "no pidMode: the container has its own PID namespace, supervise is PID 1")
    report.check(container.get("essential") is True, "the container is essential: supervise giving up stops the task")

    # Read-only root file system: Python and tempfile need a writable /tmp.
    if container.get("readonlyRootFilesystem"):
        volumes = {v["name"] for v in task.get("volumes", [])}
        mounts = {m["containerPath"]: m["sourceVolume"] for m in container.get("mountPoints", [])}
        report.check(mounts.get("/tmp") in volumes, "readonlyRootFilesystem, with a task volume mounted on /tmp",
                     "readonlyRootFilesystem without a volume on /tmp: tempfile (and Werkzeug's form parsing) would fail")
        if env.get("PYTHONDONTWRITEBYTECODE") != "1":
            report.warn("PYTHONDONTWRITEBYTECODE is not 1: Python tries to write __pycache__ into the read-only image")
    for mount in container.get("mountPoints", []):
        report.check(mount["sourceVolume"] in {v["name"] for v in task.get("volumes", [])},
                     f"mount {mount['containerPath']} uses a declared volume ({mount['sourceVolume']})")

    # Trusted proxies come from VPC_CIDR.
    trusted = proxy.get("trusted_proxies") or []
    if any("VPC_CIDR" in str(t) for t in trusted):
        report.check("VPC_CIDR" in env, "trusted_proxies uses ${VPC_CIDR}, which the task definition sets")

    # ---- Terraform against supervisor.yaml
    tg = module.resource("aws_lb_target_group") or {}
    hc = (tg.get("health_check") or [{}])[0]
    health_check_path = module.value(hc.get("path"))
    routes = proxy.get("routes") or []
    public = [r for r in routes if r.get("path") == health_check_path and r.get("auth") == "public"]
    health_path = (config.get("health") or {}).get("path", "/healthz")
    report.check(bool(public) or health_check_path == health_path,
                 f"the target group polls {health_check_path}, a public route of supervisor.yaml (no sign-in)",
                 f"the target group polls {health_check_path}, which is neither a public route nor health.path: it would get 401")
    report.check(str(hc.get("matcher")) == "200", "the target group expects 200 (a sign-in redirect would be 302)")
    report.check(tg.get("target_type") == "ip", "target_type is ip (awsvpc tasks register by IP)")
    report.check(expr(tg.get("port")) == "local.container_port", "the target group's port is the task definition's container port")

    delay = module.value(tg.get("deregistration_delay"), 300)
    report.check(delay is not None and float(delay) >= drain,
                 f"deregistration_delay {delay}s >= drain_timeout {drain:g}s: the load balancer never cuts a request sooner than supervise would",
                 f"deregistration_delay {delay}s < drain_timeout {drain:g}s")
    if delay is not None and float(delay) > drain + 30:
        report.warn(f"deregistration_delay {delay}s is much longer than drain_timeout: deployments and scale-in wait for it")

    internal = module.default("internal_paths") or []
    report.check(health_path in internal, f"the HTTPS listener hides {health_path} from the internet (internal_paths)")

    lb = module.resource("aws_lb") or {}
    alb_idle = module.value(lb.get("idle_timeout"), 60)
    client_idle = seconds(((proxy.get("timeouts") or {}).get("client_idle")), DEFAULT_CLIENT_IDLE)
    if alb_idle is None:
        report.fail(f"the load balancer's idle_timeout ({lb.get('idle_timeout')}) is neither a number nor a declared variable with a default")
    elif float(alb_idle) >= client_idle:
        report.warn(
            f"the load balancer keeps idle connections {alb_idle}s, supervise closes an idle keep-alive connection "
            f"after proxy.timeouts.client_idle ({client_idle:g}s): a request the load balancer sends on a "
            f"connection just as supervise closes it gets a 502. AWS advises the target's keep-alive be longer "
            f"than the load balancer's idle timeout; see the README")
    else:
        report.ok(f"load balancer idle timeout {alb_idle}s < supervise's idle keep-alive {client_idle:g}s")

    desired = module.variables.get("desired_count", {})
    conditions = " ".join(v.get("condition", "") for v in desired.get("validation", []))
    report.check(2 <= (desired.get("default") or 0) <= 10 and ">= 2" in conditions and "<= 10" in conditions,
                 f"desired_count defaults to {desired.get('default')} and is validated to 2-10")


def dockerfile_instructions(text):
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", text)
    stages, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            current = []
            stages.append(current)
        current.append((word.upper(), rest.strip()))
    return stages[-1] if stages else []


def check_against_dockerfile(report, task):
    report.section(f"task definition against the image ({DOCKERFILE.relative_to(REPO)})")
    if not DOCKERFILE.exists():
        report.warn("no Dockerfile yet: the image's side is not checked")
        return
    final = dockerfile_instructions(DOCKERFILE.read_text())
    container = task["containerDefinitions"][0]
    entry = [json.loads(a) if a.startswith("[") else a for i, a in final if i == "ENTRYPOINT"]
    report.check(bool(entry) and isinstance(entry[-1], list) and entry[-1][:2] == ["supervise", "up"]
                 and "entryPoint" not in container and "command" not in container,
                 "the image's ENTRYPOINT is [\"supervise\", \"up\"] in exec form, not overridden: supervise is PID 1",
                 "supervise is not the container's PID 1: ENTRYPOINT must be the exec form [\"supervise\", \"up\"]")
    env = {}
    for instruction, args in final:
        if instruction == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", args))
    workdir = next((a for i, a in reversed(final) if i == "WORKDIR"), "/")
    config_path = env.get("SUPERVISE_CONFIG") or f"{workdir.rstrip('/')}/supervisor.yaml"
    copied = [a.split()[-1] for i, a in final if i == "COPY" and a.split()[0].endswith("supervisor.yaml")]
    report.check(config_path in copied, f"`supervise health` (the ECS health check) finds the configuration at {config_path}",
                 f"the image copies supervisor.yaml to {copied}, but `supervise health` would read {config_path}")
    user = next((a for i, a in reversed(final) if i == "USER"), "root")
    if user.split(":")[0] not in ("root", "0"):
        sysctl = {s["namespace"]: s["value"] for s in container.get("systemControls", [])}
        port = container["portMappings"][0]["containerPort"]
        allowed = port >= 1024 or int(sysctl.get("net.ipv4.ip_unprivileged_port_start", 1024)) <= port
        report.check(allowed, f"the image runs as {user}; net.ipv4.ip_unprivileged_port_start lets it bind port {port}",
                     f"the image runs as {user} and port {port} is privileged: set the sysctl or rely on file capabilities")
    if container.get("readonlyRootFilesystem"):
        volumes = " ".join(a for i, a in final if i == "VOLUME")
        if "/tmp" in volumes:
            report.ok("the image declares VOLUME /tmp, so the task's /tmp mount takes its mode (1777)")
        else:
            report.warn(f"the image declares no VOLUME /tmp: on Fargate the task's /tmp bind mount is then root-owned, "
                        f"mode 0755, and {user} cannot write to it (tempfile fails). Add `RUN chmod 1777 /tmp` and "
                        f"`VOLUME [\"/tmp\"]` to the Dockerfile's last stage, or drop readonlyRootFilesystem")


# ---------------------------------------------------------------- 3. Terraform configuration


REFERENCE = re.compile(
    r"(?<![\w.])(?:(var|local)\.([A-Za-z_][\w-]*)|data\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)|((?:aws|terraform)_[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)


def check_module(report, module, tfvars=None):
    name = module.folder.relative_to(ECS)
    report.section(f"Terraform module {name}/")
    report.ok(f"{len(module.files)} files parse with HCL's own parser: {', '.join(sorted(Path(f).name for f in module.files))}")

    used_vars, used_locals, bad = set(), set(), []
    for body in module.files.values():
        for text in strings_in(body):
            for m in REFERENCE.finditer(text):
                kind, ident, dkind, dname, rkind, rname = m.groups()
                if kind == "var":
                    used_vars.add(ident)
                    if ident not in module.variables:
                        bad.append(f"var.{ident}")
                elif kind == "local":
                    used_locals.add(ident)
                    if ident not in module.locals:
                        bad.append(f"local.{ident}")
                elif dkind:
                    if (dkind, dname) not in module.data:
                        bad.append(f"data.{dkind}.{dname}")
                elif rkind and (rkind, rname) not in module.resources:
                    bad.append(f"{rkind}.{rname}")
    report.check(not bad, "every var., local., data. and resource reference is declared", f"undeclared references: {sorted(set(bad))}")
    unused = sorted(set(module.variables) - used_vars)
    if unused:
        report.warn(f"variables declared but never used: {unused}")
    else:
        report.ok(f"all {len(module.variables)} variables are used")
    unused = sorted(set(module.locals) - used_locals)
    report.check(not unused, f"all {len(module.locals)} locals are used", f"locals never used: {unused}")
    for var, body in module.variables.items():
        if not body.get("description"):
            report.fail(f"variable {var} has no description")
    report.check(all(b.get("type") for b in module.variables.values()), "every variable has a type")

    versions = [t for t in module.terraform if "required_providers" in t]
    report.check(bool(versions) and all(t.get("required_version") for t in versions),
                 "required_version and required_providers are pinned")

    if tfvars is not None:
        unknown = sorted(set(tfvars) - set(module.variables))
        report.check(not unknown, "terraform.tfvars.example sets only declared variables", f"the tfvars example sets undeclared {unknown}")
        missing = sorted(v for v, b in module.variables.items() if "default" not in b and v not in tfvars)
        report.check(not missing, "terraform.tfvars.example sets every variable without a default", f"the tfvars example lacks {missing}")


def check_backend(report, module):
    report.section("S3 backend with DynamoDB locking (terraform/backend.tf)")
    backends = [t["backend"] for t in module.terraform if "backend" in t]
    s3 = [b["s3"][0] for b in backends if "s3" in b]
    if not report.check(len(s3) == 1, "one backend, of type s3"):
        return
    s3 = s3[0]
    for key in ("bucket", "key", "region", "dynamodb_table"):
        report.check(isinstance(s3.get(key), str) and s3[key] and "${" not in s3[key],
                     f"backend sets {key} as a literal ({s3.get(key)}) (a backend cannot use variables)")
    report.check(s3.get("encrypt") is True, "the state object is encrypted (encrypt = true)")
    report.check(s3.get("key", "").endswith(".tfstate"), "the state key names a .tfstate object")

    boot = Module(TF / "bootstrap", module._parsed)
    table = next((b for (k, _), b in boot.resources.items() if k == "aws_dynamodb_table"), None)
    report.check(table is not None and table.get("hash_key") == "LockID"
                 and any(a.get("name") == "LockID" and a.get("type") == "S" for a in table.get("attribute", [])),
                 "bootstrap/ makes the lock table with the string key LockID the S3 backend writes")
    report.check(any(k == "aws_s3_bucket_versioning" for k, _ in boot.resources), "bootstrap/ versions the state bucket")
    report.check(any(k == "aws_s3_bucket_public_access_block" for k, _ in boot.resources), "bootstrap/ blocks public access to it")


def check_wiring(report, module, rendered):
    report.section("Terraform wiring (terraform/main.tf)")
    service = module.resource("aws_ecs_service") or {}
    lb = (service.get("load_balancer") or [{}])[0]
    report.check(expr(lb.get("container_name")) == "local.container.name" and expr(lb.get("container_port")) == "local.container_port",
                 "the service's load_balancer names the container and port from the task definition")
    report.check(service.get("launch_type") == "FARGATE", "the service runs on Fargate")
    report.check(expr(service.get("desired_count")) == "var.desired_count", "desired_count comes from the variable")
    cb = (service.get("deployment_circuit_breaker") or [{}])[0]
    report.check(cb.get("enable") is True and cb.get("rollback") is True, "deployments roll back when new tasks keep failing")

    td = module.resource("aws_ecs_task_definition") or {}
    from_json = all(str(expr(td.get(k)) or "").startswith("local.task.") for k in
                    ("family", "cpu", "memory", "network_mode", "requires_compatibilities", "execution_role_arn"))
    report.check(from_json and "local.task.containerDefinitions" in str(td.get("container_definitions")),
                 "aws_ecs_task_definition takes every field from the rendered JSON (one source of truth)")
    if rendered:
        report.check(rendered["executionRoleArn"].endswith(f":role/{module.default('name')}-execution"),
                     "the execution role ARN in the JSON is the role Terraform makes")

    log_group = module.resource("aws_cloudwatch_log_group") or {}
    report.check("awslogs-group" in str(log_group.get("name")), "the log group is the one the task definition's awslogs names")

    policy = module.data.get(("aws_iam_policy_document", "read_secrets")) or {}
    resources = [r for s in policy.get("statement", []) for r in s.get("resources", [])]
    report.check(set(resources) >= {"${var.azure_client_secret_arn}", "${var.session_secret_arn}"}
                 and all("*" not in r for r in resources),
                 "the execution role may read exactly the two secrets (no wildcard)")

    http = module.resource("aws_lb_listener", "http") or {}
    redirect = ((http.get("default_action") or [{}])[0].get("redirect") or [{}])[0]
    report.check(redirect.get("protocol") == "HTTPS" and str(redirect.get("port")) == "443", "port 80 redirects to HTTPS")
    https = module.resource("aws_lb_listener", "https") or {}
    report.check(https.get("protocol") == "HTTPS" and expr(https.get("certificate_arn")) == "var.certificate_arn",
                 "port 443 is HTTPS with the ACM certificate variable")

    ingress = module.resource("aws_vpc_security_group_ingress_rule", "tasks_from_alb") or {}
    report.check(expr(ingress.get("referenced_security_group_id")) == "aws_security_group.alb.id" and "cidr_ipv4" not in ingress,
                 "the tasks admit only the load balancer's security group")
    task_ingress = [b for (k, _), b in module.resources.items()
                    if k == "aws_vpc_security_group_ingress_rule" and expr(b.get("security_group_id")) == "aws_security_group.tasks.id"]
    report.check(len(task_ingress) == 1, "the tasks' security group has that one ingress rule and no other")

    target = module.resource("aws_appautoscaling_target", "service") or {}
    report.check(expr(target.get("min_capacity")) == "var.desired_count" and expr(target.get("max_capacity")) == "var.max_count",
                 "autoscaling runs between desired_count and max_count")
    ignored = str(((service.get("lifecycle") or [{}])[0]).get("ignore_changes"))
    report.check("desired_count" in ignored, "the service ignores desired_count drift (autoscaling owns it)")


# ---------------------------------------------------------------- 4. AWS provider schema


class ProviderSchema:
    """Argument and block names of the AWS provider, read from the
    TypeScript declarations of @cdktf/provider-aws (generated from the
    provider's own schema). Each property's doc link carries its HCL name."""

    LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/([0-9.]+)/docs[^ ]*#([A-Za-z0-9_]+) ")
    PROP = re.compile(r"^\s*readonly (\w+)(\??): (.+?);?\s*$")  # a map type opens "{" and goes on

    def __init__(self, tgz):
        self.tgz = tgz
        self.version = None
        self.cache = {}

    def load(self, folders):
        wanted = {f"package/lib/{f}/index.d.ts": f for f in folders}
        with tarfile.open(self.tgz) as tar:
            for member in tar:
                if member.name in wanted:
                    self.cache[wanted[member.name]] = self.parse(tar.extractfile(member).read().decode())

    def parse(self, text):
        interfaces, kind = {}, None
        for block in re.finditer(r"export interface (\w+)(?: extends [\w.]+)? \{(.*?)\n\}", text, re.S):
            props, pending = {}, None
            for line in block.group(2).splitlines():
                link = self.LINK.search(line)
                if link:
                    self.version, pending = link.group(1), link.group(2)
                    continue
                prop = self.PROP.match(line)
                if prop and pending:
                    ts_type = prop.group(3)
                    nested = re.match(r"(\w*)", ts_type).group(1)
                    props[pending] = {"required": prop.group(2) != "?", "type": ts_type, "nested": nested}
                    pending = None
            interfaces[block.group(1)] = props
        kind = re.search(r'static readonly tfResourceType = "([a-z0-9_]+)"', text)
        return {"interfaces": interfaces, "type": kind.group(1) if kind else None}

    @staticmethod
    def folder(kind, data=False):
        name = kind.replace("_", "-")
        if data:
            return "data-" + name
        return name[len("aws-"):] if name.startswith("aws-") else name

    def config(self, folder):
        parsed = self.cache.get(folder)
        if not parsed:
            return None, None
        # The first interface of each file is its configuration.
        top = next((n for n in parsed["interfaces"] if n.endswith("Config")), None)
        return parsed, top


def check_block(report, where, body, parsed, interface, problems):
    props = parsed["interfaces"].get(interface, {})
    for key, value in body.items():
        if key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for block_name, dynamics in value.items():
                prop = props.get(block_name)
                if not prop or prop["nested"] not in parsed["interfaces"]:
                    problems.append(f"{where}: dynamic \"{block_name}\" is not a block here")
                    continue
                for dyn in dynamics:
                    for content in dyn.get("content", []):
                        check_block(report, f"{where}.{block_name}", content, parsed, prop["nested"], problems)
            continue
        prop = props.get(key)
        if prop is None:
            problems.append(f"{where}: unknown argument or block \"{key}\"")
            continue
        nested = prop["nested"] if prop["nested"] in parsed["interfaces"] else None
        if nested:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    check_block(report, f"{where}.{key}", item, parsed, nested, problems)
        else:
            literal = value if expr(value) is None else None
            ts = prop["type"]
            if literal is not None and not (isinstance(literal, str) and "${" in literal):
                if ts.startswith("number") and not isinstance(literal, (int, float)):
                    problems.append(f"{where}.{key}: a number is expected, not {literal!r}")
                elif ts.startswith("boolean") and not isinstance(literal, bool):
                    problems.append(f"{where}.{key}: true or false is expected, not {literal!r}")
                elif ts.startswith("string[]") and not isinstance(literal, list):
                    problems.append(f"{where}.{key}: a list is expected, not {literal!r}")
                elif ts == "string" and isinstance(literal, (list, dict)):
                    problems.append(f"{where}.{key}: a string is expected, not {type(literal).__name__}")
    for key, prop in props.items():
        if prop["required"] and key not in body and key not in body.get("dynamic", {}):
            problems.append(f"{where}: required \"{key}\" is missing")


def check_provider_schema(report, modules, tgz):
    report.section("resources and data sources against the AWS provider's schema")
    schema = ProviderSchema(tgz)
    wanted = {"provider"}
    for module in modules:
        wanted |= {schema.folder(k) for k, _ in module.resources}
        wanted |= {schema.folder(k, data=True) for k, _ in module.data}
    schema.load(wanted)
    report.ok(f"AWS provider {schema.version} schema loaded for {len(schema.cache)} types (from @cdktf/provider-aws)")

    for module in modules:
        problems = []
        blocks = [(k, n, b, False) for (k, n), b in module.resources.items()] + [(k, n, b, True) for (k, n), b in module.data.items()]
        for kind, name, body, data in blocks:
            folder = schema.folder(kind, data)
            parsed, top = schema.config(folder)
            where = f"{'data.' if data else ''}{kind}.{name}"
            if not parsed or parsed["type"] != kind:
                problems.append(f"{where}: no such {'data source' if data else 'resource'} in the provider")
                continue
            check_block(report, where, body, parsed, top, problems)
            ignore = str(((body.get("lifecycle") or [{}])[0]).get("ignore_changes", ""))
            for attr in re.findall(r"\$\{(\w+)\}", ignore):
                if attr not in parsed["interfaces"][top]:
                    problems.append(f"{where}: lifecycle.ignore_changes names unknown \"{attr}\"")
        for pname, body in module.providers.items():
            parsed, top = schema.config("provider")
            check_block(report, f"provider.{pname}", body, parsed, top, problems)
        label = module.folder.relative_to(ECS)
        count = len(blocks) + len(module.providers)
        if module.folder == TF:
            # The check must catch mistakes, so that a clean run means something.
            service = copy.deepcopy(module.resources[("aws_ecs_service", "this")])
            parsed, top = schema.config(schema.folder("aws_ecs_service"))
            service["desired_cont"] = 2
            del service["name"]
            service["network_configuration"][0]["subnet"] = service["network_configuration"][0].pop("subnets")
            caught = []
            check_block(report, "service", service, parsed, top, caught)
            report.check(len(caught) == 4, "the schema check catches a misspelt argument, a misspelt nested one and missing required ones",
                         f"the schema check caught only {caught} of 4 planted mistakes")
        for problem in problems:
            report.fail(f"{label}: {problem}")
        if not problems:
            report.ok(f"{label}/: all {count} resource, data and provider blocks use only arguments and blocks the provider "
                      f"has, with every required one set")


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hcl", required=True, help="JSON from parse-hcl.cjs")
    parser.add_argument("--provider-aws", required=True, help="the @cdktf/provider-aws package tarball")
    args = parser.parse_args()

    parsed = {str(Path(f).resolve()): body for f, body in json.loads(Path(args.hcl).read_text()).items()}
    report = Report()
    main_module = Module(TF, parsed)
    main_module._parsed = parsed
    boot_module = Module(TF / "bootstrap", parsed)
    tfvars_body = parsed.get(str((TF / "terraform.tfvars.example").resolve()), {})

    task, rendered = check_task_definition(report, main_module, tfvars_body)
    # A check that meets something it did not expect fails, and the others run.
    for check, check_args in [
        (check_against_supervisor, (rendered or task, main_module)),
        (check_against_dockerfile, (rendered or task,)),
        (check_module, (main_module, tfvars_body)),
        (check_module, (boot_module,)),
        (check_backend, (main_module,)),
        (check_wiring, (main_module, rendered)),
        (check_provider_schema, ([main_module, boot_module], args.provider_aws)),
    ]:
        try:
            check(report, *check_args)
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            report.fail(f"{check.__name__} stopped on {type(error).__name__}: {error}")

    print(f"\n{report.passed} passed, {report.failed} failed, {report.warned} warnings")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
