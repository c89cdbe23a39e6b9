"""Soak benchmark (not a test): the web app as deployed under a bounded load on the job list,
alone and while a 100,000-job full sync writes, on SQLite and on PostgreSQL.

    bench/soak                        both backends, 60 s a phase (about 10 minutes)
    bench/soak --db sqlite            one backend (sqlite | pg | both)
    bench/soak --seconds 20 --repeat 2
    bench/soak --mix browser          every list page followed by its counts fragment
    bench/soak --workers 4 --worker-class sync --threads 1   another gunicorn setup (these
                                      override gunicorn.conf.py on the command line)

Per backend: a fresh database (SQLite in a temporary DATA_DIR, or a throw-away PostgreSQL
database) filled with --jobs jobs (bench/views' fill); gunicorn started from the repository
root the way the README's production section runs it (`gunicorn dashboard.wsgi -c
gunicorn.conf.py`, DEBUG off, no TLS); --clients clients, each logged in once through the
login form, requesting job-list URLs in a closed loop (the next request as soon as the last one
is answered, no think time). The "list" mix: the first page and its counts fragment, a status
chip (htmx listing), a kind filter (htmx results), an account filter (a shared link), a name
search (htmx results), a keyset "load more" page and the 10 s poll; "browser" adds the counts
fragment htmx loads after each of them.

Phases (per backend):
  baseline  1 client for --baseline-seconds: the service time, no queueing
  alone     --clients clients for --seconds
  sync      the same while `manage.py syncjobs --full` lists --sync-jobs new avatar jobs from
            a fakecloud subprocess (--sync-latency-ms a call; the account's budget
            --sync-rps requests/s, 20 = MetaStudio's documented cn-north-4 rate, the fastest a
            real full listing can write); figures are of the requests made while it ran, and
            the load runs at least --seconds and until the sync has finished. On SQLite a
            probe also takes the write lock every 0.2 s: how long a web request that writes
            (a login, a session save) waits for the sync's transactions.

Each phase prints p50/p95/p99/max (ms, from sending the request to the last byte), requests/s,
errors (an answer other than 200/204 or without its page's marker, a redirect to the login
page, a timeout, a dropped connection), CPU per request of the server (gunicorn's processes,
and PostgreSQL's backends of the database), and the machine's CPU used by other processes
(a busy machine makes every figure worse); then p50/p95 per URL, p95 against the 1-client
baseline (queueing), and PASS/FAIL for the targets: 0 errors and p95 <= 100 ms in every
--clients phase. Exit status 1 when a target was missed.
"""

import argparse
import html
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from benchdb import bench_django, make_huawei_account  # noqa: E402

TARGET_P95_MS = 100.0
REQUEST_TIMEOUT = 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    p.add_argument("--jobs", type=int, default=100_000, help="jobs in the cache before the load (default 100000)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument(
        "--mix",
        choices=["list", "browser"],
        default="list",
        help="list: the job list's pages and fragments; browser: every list page followed by its "
        "counts fragment, as htmx loads it (default list)",
    )
    p.add_argument("--seconds", type=float, default=60, help="length of each --clients phase (default 60)")
    p.add_argument("--baseline-seconds", type=float, default=15, help="length of the 1-client phase (default 15)")
    p.add_argument("--repeat", type=int, default=1, help="run the alone and sync phases this many times")
    p.add_argument("--sync-jobs", type=int, default=100_000, help="new jobs the full sync writes (0: no sync phase)")
    p.add_argument("--sync-rps", type=float, default=20, help="the sync account's request budget (default 20)")
    p.add_argument("--sync-latency-ms", type=int, default=100, help="fakecloud latency per call (default 100)")
    p.add_argument("--workers", type=int, help="gunicorn --workers (default: gunicorn.conf.py)")
    p.add_argument("--threads", type=int, help="gunicorn --threads (default: gunicorn.conf.py)")
    p.add_argument("--worker-class", help="gunicorn --worker-class (default: gunicorn.conf.py)")
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="admin URL for pg")
    p.add_argument("--summary-json", help=argparse.SUPPRESS)  # how --db both collects each backend's verdicts
    return p.parse_args(argv)


def main(argv=None):
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when the output goes to a file
    if args.db == "both":
        return run_both(argv)
    verdicts = []
    with bench_django("soak", args.pg_url if args.db == "pg" else None):
        verdicts = run(args)
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(verdicts))
    return 0 if all(ok for _, ok in verdicts) else 1


def run_both(argv):
    """One child process per backend (Django's settings are read once per process)."""
    verdicts = []
    for db in ("sqlite", "pg"):
        with tempfile.NamedTemporaryFile(suffix=".json") as summary:
            child = [sys.executable, __file__, *argv, "--db", db, "--summary-json", summary.name]
            code = subprocess.call(child)
            text = Path(summary.name).read_text()
            verdicts += json.loads(text) if text else [(f"{db}: the run finished", False)]
            if code and not text:
                print(f"bench/soak --db {db} failed (exit {code})")
    print("\nsummary")
    for label, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in verdicts) else 1


# -- the deployed server ---------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn as the README's production section starts it, from the repository root with
    gunicorn.conf.py and DEBUG off, bound to a loopback port; --workers/--threads/--worker-class
    override the config file on the command line."""

    def __init__(self, args, log_path):
        self.port = free_port()
        self.log_path = log_path
        self.cmd = [
            str(Path(sys.executable).parent / "gunicorn"),
            "dashboard.wsgi",
            "-c",
            "gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{self.port}",
        ]
        for flag, value in (("--workers", args.workers), ("--threads", args.threads)):
            if value is not None:
                self.cmd += [flag, str(value)]
        if args.worker_class:
            self.cmd += ["--worker-class", args.worker_class]
        self.proc = None

    def start(self):
        env = dict(os.environ, DEBUG="false", ALLOWED_HOSTS="127.0.0.1,localhost")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/accounts/login/")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{self.tail()}")

    def settings(self):
        """Workers, worker class and threads as gunicorn resolved them (command line over
        gunicorn.conf.py over its defaults)."""
        out = subprocess.run(
            [*self.cmd, "--print-config"], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True
        ).stdout
        found = dict(re.findall(r"^(workers|worker_class|threads|timeout|keepalive)\s*=\s*(\S+)", out, re.M))
        return found

    def tail(self, lines=20):
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def log_in(port, username, password):
    """A session cookie through the login form, as a browser gets one (CSRF token included)."""
    import requests

    base = f"http://127.0.0.1:{port}"
    s = requests.Session()
    page = s.get(f"{base}/accounts/login/", timeout=REQUEST_TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = s.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/jobs/"},
        timeout=REQUEST_TIMEOUT,
        allow_redirects=False,
    )
    if answer.status_code != 302 or "sessionid" not in s.cookies:
        raise RuntimeError(f"login failed: HTTP {answer.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Url:
    name: str
    path: str
    headers: dict = field(default_factory=dict)
    marker: bytes = b""  # a 200 answer must contain it (else it is some other page)
    follows_poller: bool = False  # the next request goes to the poll URL the answer names, as htmx does


def job_list_mix(accounts, mix):
    """The URLs a client cycles through, in order. "list": the job list's pages and fragments
    (the first page and its counts fragment, a status chip, a kind filter, an account, a name
    search, a keyset "load more" page, the poll). "browser": what htmx requests for the same
    clicks, each list page or results fragment followed by its own counts fragment."""
    from jobs import selectors

    first = selectors.job_page(selectors.filter_jobs({}), selectors.DEFAULT_SORT, None, 50)
    since = selectors.change_cursor().isoformat()
    hx = {"HX-Request": "true"}
    rows, counts = b'id="job-', b'class="counts"'
    account = accounts[1]
    clicks = [
        (Url("page: /jobs/", "/jobs/", {}, b'id="job-rows"'), ""),
        (
            Url("status chip (htmx listing)", "/jobs/?status=failed", {**hx, "HX-Target": "listing"}, rows),
            "status=failed",
        ),
        (
            Url("kind filter (htmx results)", "/jobs/?kind=translation", {**hx, "HX-Target": "results"}, rows),
            "kind=translation",
        ),
        (Url(f"page: account={account.name}", f"/jobs/?account={account.pk}", {}, rows), f"account={account.pk}"),
        (Url("search 'teacher' (htmx results)", "/jobs/?q=teacher", {**hx, "HX-Target": "results"}, rows), "q=teacher"),
    ]
    urls = []
    for page, query in clicks:
        urls.append(page)
        if mix == "browser" or not query:
            name = f"counts fragment{': ' + query if query else ''}"
            urls.append(Url(name, "/jobs/counts/" + ("?" + query if query else ""), hx, counts))
    return urls + [
        Url("load more (keyset page 2)", "/jobs/?" + urlencode({"after": first.next_cursor}), hx, rows),
        Url("poll (since)", "/jobs/?" + urlencode({"since": since}), hx, b"", follows_poller=True),
    ]


@dataclass
class Sample:
    start: float  # perf_counter at send
    ms: float
    url: int
    error: str | None


POLLER = re.compile(rb'id="poller" hx-get="([^"]+)"')


def client_loop(port, cookie, urls, offset, start, done, samples):
    """One closed-loop client: one keep-alive connection when the server keeps it open (a new
    one otherwise), the next request as soon as the last answer's body is read. Like a browser,
    it polls from the cursor the last poll answer gave it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    paths = {}
    i = offset
    while not done():
        k = i % len(urls)
        u = urls[k]
        i += 1
        error = None
        t0 = time.perf_counter()
        try:
            conn.request("GET", paths.get(k, u.path), headers={"Cookie": cookie, **u.headers})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status not in (200, 204):
                error = f"HTTP {resp.status}" + (f" to {resp.getheader('Location')}" if resp.status == 302 else "")
            elif resp.status == 200 and u.marker not in body:
                error = "HTTP 200 without the page's marker"
            if resp.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn.close()
        samples.append(Sample(t0 - start, (time.perf_counter() - t0) * 1000, k, error))
        if u.follows_poller and not error and (found := POLLER.search(body)):
            paths[k] = html.unescape(found.group(1).decode())
    conn.close()


def run_load(port, cookies, urls, seconds, until=None):
    """len(cookies) clients for `seconds`, and with `until` also until it returns True.
    Returns the samples, the wall time and the perf_counter the samples' times count from."""
    samples = []
    start = time.perf_counter()

    def done():
        return time.perf_counter() - start >= seconds and (until is None or until())

    threads = [
        threading.Thread(target=client_loop, args=(port, cookie, urls, n * 3, start, done, samples), daemon=True)
        for n, cookie in enumerate(cookies)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.perf_counter() - start, start


# -- CPU accounting ----------------------------------------------------------------------------


def proc_cpu(pid):
    """(ppid, CPU seconds) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def machine_busy():
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    return (sum(cpu) - idle) / CLK_TCK


class CpuMeter(threading.Thread):
    """CPU seconds spent during a phase by groups of processes (gunicorn's master and workers,
    the database's PostgreSQL backends, the sync, fakecloud, this client) and by the rest of
    the machine. Samples /proc twice a second, so processes that end (a restarted worker, the
    sync) still count."""

    def __init__(self, groups):
        super().__init__(daemon=True)
        self.groups = groups  # name -> function(pid, ppid, cmdline) -> bool
        self.first, self.last, self.group_of = {}, {}, {}
        self.stopping = threading.Event()
        self.busy0 = machine_busy()
        self.scan(first=True)

    def scan(self, first=False):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            got = proc_cpu(pid)
            if got is None:
                continue
            ppid, cpu = got
            if first:
                self.first[pid] = cpu
            if pid not in self.group_of:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    cmdline = ""
                self.group_of[pid] = next((g for g, test in self.groups.items() if test(pid, ppid, cmdline)), None)
            self.last[pid] = cpu

    def run(self):
        while not self.stopping.wait(0.5):
            self.scan()

    def finish(self):
        self.stopping.set()
        self.join()
        self.scan()
        spent = dict.fromkeys(self.groups, 0.0)
        for pid, cpu in self.last.items():
            group = self.group_of.get(pid)
            if group is not None:
                spent[group] += cpu - self.first.get(pid, 0.0)
        spent["other processes"] = max(0.0, machine_busy() - self.busy0 - sum(spent.values()))
        return spent


# -- figures -----------------------------------------------------------------------------------


def pct(sorted_ms, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, max(0, int(round(p / 100 * len(sorted_ms))) - 1))]


@dataclass
class Phase:
    label: str
    samples: list  # the requests the figures are of
    seconds: float  # the time they were made in
    cpu: dict  # CPU seconds per group over the whole load
    wall: float  # the whole load's time
    requests: int  # every request of the whole load (CPU per request)

    @property
    def ms(self):
        return sorted(s.ms for s in self.samples)

    @property
    def errors(self):
        return [s for s in self.samples if s.error]

    def p95(self):
        return pct(self.ms, 95)


def print_phase(phase, urls, baseline=None):
    ms = phase.ms
    n = len(ms)
    print(
        f"  {phase.label:30} {n:6,} req {n / phase.seconds:6.1f}/s  p50 {pct(ms, 50):6.1f}  "
        f"p95 {pct(ms, 95):6.1f}  p99 {pct(ms, 99):6.1f}  max {ms[-1] if ms else 0:7.1f} ms  "
        f"errors {len(phase.errors)}" + (f"  p95 = {phase.p95() / baseline.p95():.1f}x 1 client" if baseline else "")
    )
    cpu, cores = phase.cpu, os.cpu_count() or 1
    server = cpu.get("gunicorn", 0) + cpu.get("postgres", 0)
    line = f"server CPU {server / phase.requests * 1000:.1f} ms/request"
    if cpu.get("postgres"):
        sync = ", the sync's connection included" if cpu.get("sync") else ""
        line += f" (PostgreSQL {cpu['postgres'] / phase.requests * 1000:.1f}{sync})"
    shares = [
        f"{group} {cpu[group] / phase.wall / cores * 100:.0f}%"
        for group in ("gunicorn", "postgres", "sync", "fakecloud", "client", "other processes")
        if cpu.get(group)
    ]
    print(f"  {'':30} {line}; CPU used of {cores} cores: {', '.join(shares)}")
    kinds = {}
    for s in phase.errors:
        kinds[(urls[s.url].name, s.error)] = kinds.get((urls[s.url].name, s.error), 0) + 1
    for (name, error), count in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {'':30} error x{count}: {name}: {error}")


def print_per_url(phases, urls):
    print(f"\n  p50 / p95 ms per URL{'':14}" + "".join(f"{p.label[-24:]:>26}" for p in phases))
    for k, u in enumerate(urls):
        cells = []
        for p in phases:
            ms = sorted(s.ms for s in p.samples if s.url == k)
            cells.append(f"{pct(ms, 50):12.1f} / {pct(ms, 95):9.1f}")
        print(f"  {u.name:34}" + "".join(cells))


# -- one backend ---------------------------------------------------------------------------------


def run(args):
    from django.contrib.auth.models import Group, User
    from django.db import connection, connections
    from views_bench import fill

    from fakecloud.testing import FakeCloudProcess

    backend = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    db_name = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else None
    print(f"bench/soak on {backend}: filling {args.jobs:,} jobs …", flush=True)
    accounts, _, fill_seconds = fill(args.jobs, 10)
    print(f"  filled in {fill_seconds:.1f}s")
    password = secrets.token_urlsafe(16)
    viewer = User.objects.create_user("soak-viewer", password=password)
    viewer.groups.add(Group.objects.get(name="viewer"))
    urls = job_list_mix(accounts, args.mix)
    connections.close_all()

    fc = None
    if args.sync_jobs:
        t = time.perf_counter()
        extra = ["--short-jobs", "0", "--arrivals", "0", "--latency-ms", str(args.sync_latency_ms)]
        fc = FakeCloudProcess(jobs=args.sync_jobs, seed=11, speed=0, extra_args=extra).start()
        print(f"  fakecloud ready in {time.perf_counter() - t:.1f}s ({args.sync_jobs:,} avatar jobs)")

    server = Gunicorn(args, Path(os.environ["DATA_DIR"]) / "gunicorn.log")
    verdicts = []
    try:
        server.start()
        conf = server.settings()
        print(
            f"  gunicorn {' '.join(server.cmd[1:])}: {conf.get('workers')} workers, {conf.get('worker_class')}, "
            f"{conf.get('threads')} threads, timeout {conf.get('timeout')} s, keep-alive {conf.get('keepalive')} s"
        )
        cookies = [log_in(server.port, viewer.username, password) for _ in range(args.clients)]
        # Warm-up (not timed): every worker imports its views and templates on its first request,
        # and each session's first page stores the time zone in the session.
        run_load(server.port, cookies, urls, 3)

        def meter(sync_pid=None):
            groups = {
                "gunicorn": lambda pid, ppid, cmd: pid == server.proc.pid or ppid == server.proc.pid,
                "postgres": lambda pid, ppid, cmd: bool(db_name) and cmd.startswith("postgres:") and db_name in cmd,
                "sync": lambda pid, ppid, cmd: pid == sync_pid,
                "fakecloud": lambda pid, ppid, cmd: fc is not None and pid == fc._proc.pid,
                "client": lambda pid, ppid, cmd: pid == os.getpid(),
            }
            m = CpuMeter(groups)
            m.start()
            return m

        print(
            f"\n  {args.clients} clients, closed loop over {len(urls)} job-list URLs; "
            f"{backend}, {args.jobs:,} jobs at the start"
        )
        m = meter()
        samples, wall, _ = run_load(server.port, cookies[:1], urls, args.baseline_seconds)
        baseline = Phase("1 client (baseline)", samples, wall, m.finish(), wall, len(samples))
        print_phase(baseline, urls)
        phases = [baseline]
        for r in range(args.repeat):
            suffix = f" #{r + 1}" if args.repeat > 1 else ""
            m = meter()
            samples, wall, _ = run_load(server.port, cookies, urls, args.seconds)
            alone = Phase(f"{args.clients} clients, alone{suffix}", samples, wall, m.finish(), wall, len(samples))
            print_phase(alone, urls, baseline)
            phases.append(alone)
            if fc is not None:
                phase, sync_ok = sync_phase(args, server.port, fc, cookies, urls, baseline, meter, suffix, r)
                phases.append(phase)
                verdicts.append((f"{backend}: {phase.label}: the sync succeeded", sync_ok))
        print_per_url(phases, urls)
        print()
        for p in phases[1:]:
            label = f"{backend}: {p.label}"
            verdicts += [
                (f"{label}: {len(p.errors)} errors (target 0)", not p.errors),
                (f"{label}: p95 {p.p95():.1f} ms (target <= {TARGET_P95_MS:.0f})", p.p95() <= TARGET_P95_MS),
            ]
        for label, ok in verdicts:
            print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    finally:
        server.stop()
        if fc is not None:
            fc.stop()
    return verdicts


class LockProbe(threading.Thread):
    """Takes SQLite's write lock (BEGIN IMMEDIATE, then ROLLBACK) every 0.2 s while a sync runs,
    on its own connection, and keeps how long each took: how long the sync's write transactions
    make a web request that writes (a login, a session save) wait."""

    def __init__(self):
        from django.db import connection

        super().__init__(daemon=True)
        self.path = str(connection.settings_dict["NAME"])
        self.waits, self.stopping = [], threading.Event()
        self.start()

    def run(self):
        import sqlite3

        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        while not self.stopping.wait(0.2):
            t0 = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            self.waits.append((time.perf_counter() - t0) * 1000)
            db.execute("ROLLBACK")
        db.close()

    def finish(self):
        self.stopping.set()
        self.join()
        return self.waits


def sync_phase(args, port, fc, cookies, urls, baseline, meter, suffix, r):
    """The load while `manage.py syncjobs --full` lists --sync-jobs new jobs (a new account each
    time, so every run inserts them all). Returns the phase and whether the sync succeeded."""
    from django.db import connection

    from jobs.models import SyncRun

    name = f"soak-sync-{r}"
    make_huawei_account(fc, name, ["avatar_training"], max_rps=args.sync_rps)
    env = dict(os.environ, SYNC_DETAIL_BUDGET="0", LOG_LEVEL="WARNING")
    t_wall = time.time()
    t_perf = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "syncjobs", "--account", name, "--full"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    m = meter(proc.pid)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    probe = LockProbe() if connection.vendor == "sqlite" else None
    samples, wall, start = run_load(port, cookies, urls, args.seconds, until=lambda: proc.poll() is not None)
    cpu = m.finish()
    waits = probe.finish() if probe else []
    proc.wait()
    reader.join()
    run = SyncRun.objects.filter(account__name=name).order_by("-pk").first()
    ok = proc.returncode == 0 and run is not None and run.outcome == "succeeded"
    if run is not None and run.started_at and run.finished_at:
        # The sync's own clock marks the writing window (its Django start-up excluded).
        lo = t_perf + run.started_at.timestamp() - t_wall - start
        hi = t_perf + run.finished_at.timestamp() - t_wall - start
    else:
        lo, hi = 0.0, wall
    during = [s for s in samples if lo <= s.start <= hi]
    phase = Phase(f"{args.clients} clients, sync writing{suffix}", during, hi - lo, cpu, wall, len(samples))
    print_phase(phase, urls, baseline)
    lines = "".join(out).strip().splitlines()
    print(f"  {'':30} sync (exit {proc.returncode}): {lines[-1] if lines else '(no output)'}")
    print(f"  {'':30} {len(during):,} of the {len(samples):,} requests in {wall:.0f}s were made while it wrote")
    if waits:
        waits.sort()
        print(
            f"  {'':30} SQLite write lock, waited for by a writer every 0.2 s (what a login or a session "
            f"save waits): p50 {pct(waits, 50):.1f}  p95 {pct(waits, 95):.1f}  max {waits[-1]:.1f} ms ({len(waits)} probes)"
        )
    if not ok:
        print("\n".join(lines[-20:]))
    return phase, ok


if __name__ == "__main__":
    sys.exit(main())
