#!/usr/bin/env python3
"""How fast a killed backend is back, under supervise and under pm2.

Measures, in one run on one machine, with the example Flask app
(examples/flask/app.py) as the backend:

1. the backend's own start time: spawn `python3 app.py` directly and time
   until its port accepts a TCP connection, and until GET /api/health
   answers 200;
2. supervise's restart time: run `supervise up` on a temporary config like
   examples/local.yaml, then, again and again, SIGKILL the process that
   listens on the backend's port and time until the port accepts again and
   /api/health answers 200;
3. the same for pm2 (`pm2 start app.py --interpreter python3`), installed
   from npm into bench/node_modules when missing, with its own PM2_HOME in
   a temporary folder;
4. the resident memory (VmRSS) of supervise and of pm2's God Daemon once
   idle after those restarts, and of the backend for scale.

It prints a markdown table for docs/benchmarks.md, with the command line
and the goals from PRODUCT.md: a killed backend is back within its own
start time plus 20 ms; supervise idles under 8 MiB RSS.

The backend finds the process to kill by reading /proc/net/tcp for the
listening socket's inode and scanning /proc/*/fd for it, so it depends on
neither tool's log format. After the kill it waits for that pid to be gone
(or a zombie) before polling, so a connection to the dying listener is
never counted. Between kills it waits --gap seconds, so each kill is a
one-off crash after a stable run: pm2 counts a run under 1 s as unstable,
and supervise's backoff applies only to failures in a row.

Run from anywhere, after `cargo build --release` and with a virtualenv
that has Flask at the repository's top folder:

    python3 -m venv .venv
    .venv/bin/pip install -r examples/flask/requirements.txt
    bench/restart.py                     # everything, 10 runs each
    bench/restart.py --skip-supervise    # only the backend and pm2
    bench/restart.py --skip-pm2 --runs 20

Linux only (it reads /proc); loopback only; Python 3 standard library
only. Every process it starts is stopped when it ends, also on an error or
Ctrl-C: process groups are killed, and a last sweep kills any process that
carries this run's marker in its environment.
"""

import argparse
import contextlib
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
FLASK_DIR = REPO / "examples" / "flask"

HOST = "127.0.0.1"
POLL = 0.001
MARKER_VAR = "SUPERVISE_BENCH_RUN"
MARKER = uuid.uuid4().hex


class BenchError(Exception):
    """A step of the benchmark failed; the message says which."""


# ---------------------------------------------------------------- probes


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def accepts(port):
    """Whether a TCP connection to the port succeeds."""
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def healthy(port):
    """Whether GET /api/health answers 200."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/api/health")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_for(check, deadline, what, alive=None):
    """Polls `check` every POLL seconds until it passes; raises on timeout.

    `alive`, when given, is called between polls and may raise to stop
    waiting for something that cannot come any more.
    """
    while not check():
        if time.perf_counter() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        if alive is not None:
            alive()
        time.sleep(POLL)


def wait_back(port, t0, timeout, alive=None):
    """Waits for the port to accept, then for a healthy answer.

    Returns the two delays since `t0`, in milliseconds.
    """
    deadline = t0 + timeout
    wait_for(lambda: accepts(port), deadline, f"port {port} to accept", alive)
    t_listen = time.perf_counter()

    wait_for(lambda: healthy(port), deadline, f"port {port} to be healthy", alive)
    t_healthy = time.perf_counter()

    return (t_listen - t0) * 1000, (t_healthy - t0) * 1000


# ---------------------------------------------------------------- /proc


def listening_inodes(port):
    """Inodes of the sockets listening on the TCP port (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def pids_holding(inodes):
    """Pids of the processes that have one of these socket inodes open."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.readlink(fd.path) in wanted:
                    pids.add(int(entry.name))
                    break
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return pids


def listening_pids(port):
    """Pids of the processes that listen on the TCP port."""
    inodes = listening_inodes(port)
    return pids_holding(inodes) if inodes else set()


def process_state(pid):
    """The one-letter state of the process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def wait_dead(pid, deadline):
    """Waits until the process is gone or a zombie: its sockets are closed."""
    while process_state(pid) not in (None, "Z", "X"):
        if time.perf_counter() > deadline:
            raise BenchError(f"pid {pid} still alive after SIGKILL")


def rss_kib(pid):
    """VmRSS of the process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def marked_pids():
    """Pids of the processes whose environment carries this run's marker."""
    needle = f"{MARKER_VAR}={MARKER}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return pids


# ---------------------------------------------------------------- processes


class Procs:
    """The processes this run started, and how to be rid of them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def env(self, **extra):
        env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
        env[MARKER_VAR] = MARKER
        return env

    def spawn(self, name, argv, cwd, env):
        """Starts argv in its own session; output goes to NAME.log."""
        log = open(self.workdir / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            log.close()
        self.started.append(proc)
        return proc

    def log_tail(self, name, lines=20):
        path = self.workdir / f"{name}.log"
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return f"(no {path.name})"
        return "\n".join(f"    {line}" for line in text)

    def kill_group(self, proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def sweep(self):
        """Kills every process group started, then anything marked."""
        for proc in self.started:
            if proc.poll() is None:
                self.kill_group(proc)
        for pid in marked_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                print(f"  cleanup: killed leftover pid {pid}", file=sys.stderr)


def require_running(proc, name):
    """An `alive` check for wait_for: fails when the process exited."""
    def check():
        code = proc.poll()
        if code is not None:
            raise BenchError(f"{name} exited with status {code} while we waited for it")
    return check


def the_listener(port, label):
    """The one pid listening on the port; raises when there are none or more."""
    pids = listening_pids(port)
    if len(pids) != 1:
        raise BenchError(f"{label}: expected one listener on port {port}, found {pids}")
    return pids.pop()


def kill_and_time(port, label, args, alive=None):
    """SIGKILLs the port's listener `args.runs` times; returns the delays."""
    samples = []
    for run in range(1, args.runs + 1):
        time.sleep(args.gap)
        pid = the_listener(port, label)

        t0 = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid, t0 + args.timeout)
        listen_ms, healthy_ms = wait_back(port, t0, args.timeout, alive)

        if pid in listening_pids(port):
            raise BenchError(f"{label}: pid {pid} still listens after SIGKILL")
        samples.append((listen_ms, healthy_ms))
        progress(f"{label} run {run}: killed pid {pid}; listening after"
                 f" {listen_ms:.1f} ms, healthy after {healthy_ms:.1f} ms")
    return samples


def progress(text):
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the three parts


def bench_direct(args, procs):
    """The backend's own start time, spawned directly."""
    port = free_port()
    env = procs.env(PORT=str(port))
    samples = []

    # One start first, not counted, so that every counted one finds the
    # interpreter and Flask in the page cache like a restart does.
    for run in range(args.runs + 1):
        t0 = time.perf_counter()
        proc = procs.spawn("direct", [args.python, "app.py"], FLASK_DIR, env)
        try:
            alive = require_running(proc, "python3 app.py")
            listen_ms, healthy_ms = wait_back(port, t0, args.timeout, alive)
        except BenchError as error:
            raise BenchError(f"{error}\nits output ends with:\n"
                             f"{procs.log_tail('direct')}") from None
        finally:
            procs.kill_group(proc)

        if run == 0:
            continue
        samples.append((listen_ms, healthy_ms))
        progress(f"direct start run {run}: listening after {listen_ms:.1f} ms,"
                 f" healthy after {healthy_ms:.1f} ms")
    return samples


def yaml_string(text):
    """A double-quoted YAML scalar, with `$` escaped from interpolation."""
    return json.dumps(text.replace("$", "$$"))


def supervise_config(args, port):
    backoff = "{ min: 100ms, max: 30s }"
    if args.reset_after:
        backoff = f"{{ min: 100ms, max: 30s, reset_after: {args.reset_after} }}"
    return f"""\
# Written by bench/restart.py: examples/local.yaml with a free port, an
# absolute cwd and interpreter, and a restart limit that {args.runs} kills
# cannot reach.
processes:
  backend:
    command: [{yaml_string(args.python)}, app.py]
    cwd: {yaml_string(str(FLASK_DIR))}
    env: {{ PORT: "{port}" }}
    restart: always
    backoff: {backoff}
    max_restarts: 1000
    restart_window: 60s
    stop_signal: SIGTERM
    stop_timeout: 10s
    ready:
      http: http://{HOST}:{port}/api/health
      interval: 100ms
"""


def bench_supervise(args, procs, workdir):
    """Restart times and idle RSS under `supervise up`."""
    port = free_port()
    config = workdir / "supervisor.yaml"
    config.write_text(supervise_config(args, port))

    argv = [str(args.supervise), "up", "-c", str(config)]
    proc = procs.spawn("supervise", argv, workdir, procs.env())
    alive = require_running(proc, "supervise")
    try:
        wait_back(port, time.perf_counter(), args.timeout, alive)
        samples = kill_and_time(port, "supervise", args, alive)

        time.sleep(args.settle)
        alive()
        backend = the_listener(port, "supervise")
        rss = {"supervise": rss_kib(proc.pid), "backend": rss_kib(backend)}
        stop = stop_supervise(proc, port, args.timeout)
    except BenchError as error:
        raise BenchError(f"{error}\nsupervise's output ends with:\n"
                         f"{procs.log_tail('supervise')}") from None
    finally:
        if proc.poll() is None:
            procs.kill_group(proc)
    return samples, rss, stop


def stop_supervise(proc, port, timeout):
    """SIGTERMs supervise; returns its exit status and how long it took."""
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"supervise still running {timeout:g} s after SIGTERM")
    stop_ms = (time.perf_counter() - t0) * 1000

    left = listening_pids(port)
    if left:
        raise BenchError(f"after supervise exited, pids {left} still listen on {port}")
    return code, stop_ms


def pm2_path():
    """bench/node_modules/.bin/pm2, installed from npm if missing."""
    pm2 = BENCH / "node_modules" / ".bin" / "pm2"
    if pm2.exists():
        return pm2
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("pm2 is not installed and npm is not on PATH; use --skip-pm2")

    progress("installing pm2 into bench/node_modules")
    subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(BENCH), "pm2"],
        check=True, stdout=sys.stderr,
    )
    return pm2


def pm2_version():
    package = BENCH / "node_modules" / "pm2" / "package.json"
    return json.loads(package.read_text())["version"]


def bench_pm2(args, procs, workdir):
    """Restart times under pm2 and its God Daemon's idle RSS."""
    pm2 = str(pm2_path())
    port = free_port()
    home = workdir / "pm2home"
    env = procs.env(PM2_HOME=str(home), PORT=str(port))
    log = open(workdir / "pm2.log", "ab")

    def run_pm2(*argv):
        subprocess.run([pm2, *argv], cwd=FLASK_DIR, env=env, stdin=subprocess.DEVNULL,
                       stdout=log, stderr=subprocess.STDOUT, check=True, timeout=60)

    try:
        run_pm2("start", "app.py", "--interpreter", args.python, "--name", "bench-flask")
        wait_back(port, time.perf_counter(), args.timeout)
        samples = kill_and_time(port, "pm2", args)

        time.sleep(args.settle)
        god = int((home / "pm2.pid").read_text())
        title = Path(f"/proc/{god}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "God Daemon" not in title:
            raise BenchError(f"pid {god} from pm2.pid is {title!r}, not the God Daemon")
        rss = {"pm2": rss_kib(god), "backend": rss_kib(the_listener(port, "pm2"))}
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run_pm2("kill")
        log.close()
    return samples, rss


# ---------------------------------------------------------------- report


def ms(values):
    return (f"{statistics.median(values):.1f} / {min(values):.1f} /"
            f" {max(values):.1f} ms")


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def machine():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu})"


def versions(args, parts):
    python = subprocess.run(
        [args.python, "-c", "import sys, importlib.metadata as m;"
         " print(sys.version.split()[0], m.version('flask'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    found = [f"Python {python[0]}", f"Flask {python[1]}"]
    if "pm2" in parts:
        found.append(f"pm2 {pm2_version()}")
    if "supervise" in parts:
        out = subprocess.run([str(args.supervise), "--version"],
                             capture_output=True, text=True).stdout.strip()
        found.append(out or "supervise (no --version)")
    return ", ".join(found)


def report(args, parts):
    direct = parts["direct"]
    rows = [("backend start: `python3 app.py` spawned directly", direct)]
    if "supervise" in parts:
        rows.append(("supervise: backend killed with SIGKILL", parts["supervise"][0]))
    if "pm2" in parts:
        rows.append(("pm2: backend killed with SIGKILL", parts["pm2"][0]))

    out = [
        f"Command: `{shlex.join(['bench/restart.py', *sys.argv[1:]])}`",
        "",
        f"Machine: {machine()}; {versions(args, parts)}. Runs per row:"
        f" {args.runs}; {args.gap:g} s between kills.",
        "",
        "| what | until the port accepts (median / min / max) |"
        " until /api/health is 200 (median / min / max) |",
        "| --- | --- | --- |",
    ]
    for label, samples in rows:
        listen, health = zip(*samples)
        out.append(f"| {label} | {ms(listen)} | {ms(health)} |")

    rss = []
    if "supervise" in parts:
        rss.append(f"| supervise | {mib(parts['supervise'][1]['supervise'])} |")
    if "pm2" in parts:
        rss.append(f"| pm2 God Daemon | {mib(parts['pm2'][1]['pm2'])} |")
    if rss:
        backend = (parts.get("supervise") or parts["pm2"])[1]["backend"]
        rss.append(f"| the Flask backend, for scale | {mib(backend)} |")
        out += ["", "| idle RSS (VmRSS) | |", "| --- | --- |", *rss]

    if "supervise" in parts:
        out += ["", *goals(args, direct, parts["supervise"])]
    return "\n".join(out)


def goals(args, direct, supervise):
    samples, rss, (code, stop_ms) = supervise
    lines = ["Goals from PRODUCT.md, on medians:", ""]
    for i, what in ((0, "accepts"), (1, "is healthy")):
        start = statistics.median(s[i] for s in direct)
        back = statistics.median(s[i] for s in samples)
        met = "met" if back <= start + 20 else "NOT met"
        lines.append(f"- back within the backend's start time + 20 ms (until it {what}):"
                     f" {back:.1f} ms against {start:.1f} + 20 ms: {met}")

    kib = rss["supervise"]
    met = "met" if kib < args.rss_goal_mib * 1024 else "NOT met"
    lines.append(f"- supervise idle RSS under {args.rss_goal_mib:g} MiB: {mib(kib)}: {met}")
    lines.append(f"- SIGTERM to supervise: exit status {code} after {stop_ms:.0f} ms,"
                 " nothing left listening")
    return lines


# ---------------------------------------------------------------- main


def default_python():
    venv = REPO / ".venv" / "bin" / "python3"
    return str(venv) if venv.exists() else "python3"


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--python", default=default_python(),
                        help="interpreter that has Flask; also the one supervise and pm2 run")
    parser.add_argument("--supervise", type=Path, default=REPO / "target/release/supervise",
                        help="the supervise binary")
    parser.add_argument("--runs", type=int, default=10, help="measured runs per part")
    parser.add_argument("--gap", type=float, default=2.0,
                        help="seconds between kills, so every run counts as stable")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of idling before RSS is read")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds any one wait may take")
    parser.add_argument("--reset-after", metavar="DURATION", default="1s",
                        help="backoff.reset_after in supervise's config; below --gap, so "
                             "every kill meets a stable run and restarts at once")
    parser.add_argument("--rss-goal-mib", type=float, default=8.0,
                        help="supervise's idle RSS goal")
    parser.add_argument("--skip-supervise", action="store_true",
                        help="leave supervise out (no binary needed)")
    parser.add_argument("--skip-pm2", action="store_true",
                        help="leave pm2 out (no npm needed)")
    args = parser.parse_args()

    if args.runs < 1:
        parser.error("--runs must be at least 1")
    python = shutil.which(args.python)
    if python is None:
        parser.error(f"--python {args.python}: not found or not executable")
    # Absolute but not resolved: a virtualenv's python is found by its path.
    args.python = os.path.abspath(python)
    if not args.skip_supervise and not os.access(args.supervise, os.X_OK):
        parser.error(f"{args.supervise} is missing: run `cargo build --release`"
                     " or pass --skip-supervise")
    return args


def run(args, procs, workdir):
    check = subprocess.run([args.python, "-c", "import flask"], capture_output=True)
    if check.returncode != 0:
        raise BenchError(f"{args.python} cannot import flask: install"
                         " examples/flask/requirements.txt into it")

    parts = {"direct": bench_direct(args, procs)}
    if not args.skip_supervise:
        parts["supervise"] = bench_supervise(args, procs, workdir)
    if not args.skip_pm2:
        parts["pm2"] = bench_pm2(args, procs, workdir)
    return parts


def main():
    args = parse_args()

    # SIGTERM ends the run through the same cleanup as an error does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="supervise-bench-") as tmp:
        workdir = Path(tmp)
        procs = Procs(workdir)
        try:
            parts = run(args, procs, workdir)
        except BenchError as error:
            print(f"restart.py: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("restart.py: interrupted", file=sys.stderr)
            return 130
        except subprocess.CalledProcessError as error:
            print(f"restart.py: {shlex.join(map(str, error.cmd))} failed with status"
                  f" {error.returncode}; logs:\n{procs.log_tail('pm2')}", file=sys.stderr)
            return 1
        finally:
            procs.sweep()

    print(report(args, parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
