"""Quota benchmark (run it as `bench/quota`, or `.venv/bin/python bench/quota`): how a sync
behaves against a vendor's per-tenant rate limit, at a real round-trip time (issue 10).

fakecloud runs as a subprocess with `--rate-limit RPS` (per tenant, the vendors' 429 answers)
and `--latency-ms` / `--jitter-ms`; every account has max_rps = RPS, so the quota governor
(jobs/providers/quota.py) and the vendor allow the same rate. The cache is a fresh database
(SQLite in a temporary DATA_DIR, or PostgreSQL with --pg); the governor's budget lives in
DATA_DIR/quota.sqlite3, or in Redis with --redis. Three parts, one run:

(a) the full listing of --jobs avatar jobs (detail budget 0): jobs/s against the bound
    RPS x 100 jobs a page (target >= 90 %), API calls, fakecloud's `throttled` (target 0);
    then the listing alone for the first pages at SYNC_FETCH_AHEAD 1..4, to show which
    fetch-ahead the bound needs at this latency;
(b) three OS processes (`manage.py syncjobs --full`, three accounts of ONE tenant: avatar,
    voice, avatar) at once: combined requests/s from fakecloud's counters (target <= RPS) and
    throttled = 0, with the SQLite governor (and with --redis, the Redis one as well);
(c) the steady state: after (a)'s full sync (and with --voice, one of the voice jobs), the
    first sync's detail backlog counted as done, incremental refreshes every --interval seconds: a first
    one with nothing changed, --cycles during which about --change-share % of each kind's
    jobs change (jobs in states the vendor moves moved on through the control API, at random
    moments), a last one that catches up, then one that also lists the jobs waiting on a person
    (every SYNC_WAITING_INTERVAL). Listing calls per incremental refresh (the waiting refresh's
    extra calls spread over its interval) vs a full listing (target <= 5 %), detail reads vs changed jobs (target: within 10 %), where each refresh's time
    went, and the time from a remote change to the cache row showing it (a thread polls the
    cache), p95 (target: within one refresh interval).

The defaults (100,000 jobs, 20 requests/s, 100 ms) take 7-8 minutes; --voice doubles part
(c), about seven minutes more. fakecloud's clock is frozen: jobs change only when the
benchmark moves them.

Not a test: it prints figures, each with its target and whether it was met; the exit status
is 1 when a target was missed (asserts only check that the runs worked at all).
"""

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchdb import bench_django, make_huawei_account

ROOT = Path(__file__).resolve().parent.parent

AVATAR, VOICE = "avatar_training", "voice_training"
FAKE_KIND = {AVATAR: "avatar", VOICE: "voice"}
# Where a changed job goes when its path has no next state.
SETTLED_STATE = {AVATAR: "JOB_SUCCESS", VOICE: "SUCCEED"}
PAGE = 100  # jobs per MetaStudio listing page (the documented maximum)
SWEEP_FETCH_AHEAD = (1, 2, 3, 4)
TARGETS = {"bound_share": 0.90, "incremental_share": 0.05, "detail_ratio": (0.9, 1.1)}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/quota", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=100_000, help="jobs per kind at the fakecloud for (a) and (c)")
    p.add_argument("--rps", type=float, default=20, help="fakecloud's per-tenant limit and every account's max_rps")
    p.add_argument("--latency-ms", type=int, default=100, help="fakecloud latency per request")
    p.add_argument("--jitter-ms", type=int, default=20, help="± this much on each delay")
    p.add_argument("--multi-jobs", type=int, default=20_000, help="jobs per kind for the three processes of (b)")
    p.add_argument("--cycles", type=int, default=2, help="refreshes with changes in (c) (plus a first and a last one)")
    p.add_argument("--voice", action="store_true", help="(c) syncs and changes the voice jobs too (twice as long)")
    p.add_argument("--change-share", type=float, default=1.0, help="%% of each kind's jobs changed per refresh in (c)")
    p.add_argument(
        "--interval", type=float, default=60, help="seconds between refresh starts in (c) (SYNC_ACTIVE_INTERVAL: 60)"
    )
    p.add_argument("--detail-budget", type=int, help="SYNC_DETAIL_BUDGET in (c) (default: the setting, 500)")
    p.add_argument("--fetch-ahead", type=int, help="SYNC_FETCH_AHEAD for the whole run (default: the setting, 2)")
    p.add_argument("--sweep-pages", type=int, default=150, help="pages listed per fetch-ahead in (a); 0 skips it")
    p.add_argument("--pg", action="store_true", help="PostgreSQL (a throw-away database) instead of SQLite")
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="admin URL for --pg")
    p.add_argument("--redis", action="store_true", help="the governor's budget in Redis (--redis-url)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="for --redis")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    if args.cycles < 1:
        p.error("--cycles must be at least 1")
    return args


def sqlite_governor(data_dir):
    return "sqlite:///" + str(Path(data_dir) / "quota.sqlite3")


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])

    def env(data_dir):
        # Explicit, so the syncjobs processes of (b) share this budget whatever the broker is.
        return {"RATE_LIMIT_URL": args.redis_url if args.redis else sqlite_governor(data_dir)}

    with bench_django("quota", args.pg_url if args.pg else None, env):
        try:
            return run(args)
        finally:
            if args.redis:
                forget_redis_budget(args.redis_url)


# -- helpers -------------------------------------------------------------------------------


class Report:
    """Every figure that has a target, for the closing summary and the exit status."""

    def __init__(self):
        self.rows = []

    def target(self, label, met, text):
        self.rows.append((label, met))
        return f"{text} ({'met' if met else 'NOT met'})"


def start_fakecloud(args, jobs):
    from fakecloud.testing import FakeCloudProcess

    extra = ["--short-jobs", "0", "--arrivals", "0", "--latency-ms", str(args.latency_ms)]
    if args.latency_ms > 0 and args.jitter_ms:  # fakecloud takes a jitter only with a latency
        extra += ["--jitter-ms", str(args.jitter_ms)]
    t = time.perf_counter()
    fc = FakeCloudProcess(jobs=jobs, seed=args.seed, speed=0, rate_limit=args.rps, extra_args=extra).start()
    print(f"  fakecloud ready in {time.perf_counter() - t:.1f}s ({jobs:,} jobs per kind, clock frozen)")
    return fc


def huawei_calls(counters):
    """MetaStudio requests fakecloud received (throttled ones included): every operation counter."""
    return sum(n for op, n in counters.items() if op.split(".")[0] in ("avatar", "voice", "short"))


def delta(after, before, *ops):
    return sum(after.get(op, 0) - before.get(op, 0) for op in ops)


def fresh_budget(fc, rps):
    """Both budgets full: fakecloud's bucket refilled, the governor's one-second window empty."""
    fc.set_rate_limit(rps)
    time.sleep(1.1)


def pct(x):
    return f"{100 * x:.1f} %"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def forget_redis_budget(url):
    """Drop the budget log this run wrote (only the bench's tenant key)."""
    import redis

    from fakecloud.defaults import DEFAULTS
    from jobs.providers import quota

    key = quota.bucket_key(f"metastudio:{DEFAULTS['huawei_region']}:{DEFAULTS['huawei_project_id']}")
    try:
        redis.Redis.from_url(url).delete(key)
    except redis.RedisError:
        pass


# -- (a) ------------------------------------------------------------------------------------


def part_a(args, fc, account, report):
    from django.conf import settings

    from jobs import sync

    rps = args.rps
    bound = rps * PAGE
    print(
        f"\n(a) Full listing at the quota: {args.jobs:,} avatar jobs, detail budget 0, "
        f"SYNC_FETCH_AHEAD={settings.SYNC_FETCH_AHEAD}"
    )
    settings.SYNC_DETAIL_BUDGET = 0
    fresh_budget(fc, args.rps)
    fc.reset_counters()
    t = time.perf_counter()
    run = sync.sync_account_kind(account, AVATAR, full=True)
    took = time.perf_counter() - t
    counters = fc.counters()
    assert run.outcome == "succeeded" and run.mode == "full", sync.run_reason(run)
    assert run.seen == args.jobs, (run.seen, args.jobs)
    rate = run.seen / took
    share = rate / bound
    print(f"  full sync: {took:.1f}s, {rate:,.0f} jobs/s, {run.pages} pages, {run.created:,} created")
    print(
        "  "
        + report.target(
            "(a) share of the bound",
            share >= TARGETS["bound_share"],
            f"bound {rps:g}/s x {PAGE} jobs a page = {bound:,.0f} jobs/s: {pct(share)} of it, "
            f"target >= {TARGETS['bound_share']:.0%}",
        )
    )
    throttled = counters.get("throttled", 0)
    print(
        f"  API calls: {run.api_calls:,} (fakecloud counted {counters.get('avatar.list', 0):,} avatar.list); "
        + report.target("(a) throttled", throttled == 0, f"throttled {throttled}, target 0")
    )
    if args.sweep_pages:
        sweep(args, fc, account, share)
    return run


def sweep(args, fc, account, full_share):
    """The listing alone (no database) for the first pages, at each fetch-ahead."""
    from django.conf import settings

    from jobs.providers import get_provider

    pages = min(args.sweep_pages, args.jobs // PAGE)
    default = settings.SYNC_FETCH_AHEAD
    bound_pages = args.rps
    print(f"  the listing alone (HTTP + parse, no database), first {pages} pages, by SYNC_FETCH_AHEAD:")
    shares = {}
    try:
        for ahead in SWEEP_FETCH_AHEAD:
            settings.SYNC_FETCH_AHEAD = ahead
            provider = get_provider(account)
            fresh_budget(fc, args.rps)
            fc.reset_counters()
            listing = provider.iter_pages(AVATAR)
            t = time.perf_counter()
            got = 0
            for _page in listing:
                got += 1
                if got >= pages:
                    break
            took = time.perf_counter() - t
            listing.close()
            rate = got / took
            share = shares[ahead] = rate / bound_pages
            mark = " (this run)" if ahead == default else ""
            print(
                f"    {ahead}{mark}: {rate:5.1f} pages/s = {rate * PAGE:6,.0f} jobs/s, {pct(share)} of the bound, "
                f"throttled {fc.counters().get('throttled', 0)}"
            )
    finally:
        settings.SYNC_FETCH_AHEAD = default
    needed = next((ahead for ahead in SWEEP_FETCH_AHEAD if shares[ahead] >= TARGETS["bound_share"]), None)
    round_trip = args.latency_ms / 1000
    print(
        f"  -> about rps x round trip = {args.rps:g} x {round_trip:.2f}s = {args.rps * round_trip:.1f} requests must be "
        "in flight, more while the sync works between pages; the listing alone reached "
        + (
            f"{TARGETS['bound_share']:.0%} of the bound from SYNC_FETCH_AHEAD={needed}"
            if needed
            else f"{TARGETS['bound_share']:.0%} of the bound with none up to {SWEEP_FETCH_AHEAD[-1]}"
        )
        + f", the full sync {pct(full_share)} at SYNC_FETCH_AHEAD={default} (--fetch-ahead N tries another)"
    )


# -- (b) ------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """fakecloud's counters every `every` seconds: [(monotonic time, counters)]."""

    def __init__(self, fc, every=0.2):
        super().__init__(name="counter-sampler", daemon=True)
        self.fc, self.every = fc, every
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        while True:
            self.samples.append((time.monotonic(), self.fc.counters()))
            if self.stopping.wait(self.every):
                self.samples.append((time.monotonic(), self.fc.counters()))
                return

    def rates(self):
        """(requests, seconds, busiest one second) while requests flowed: from the first sample
        that saw one to the first that saw the last; the busiest second from samples <= 1 s apart."""
        calls = [(t, huawei_calls(counters)) for t, counters in self.samples]
        busy = [s for s in calls if s[1] > 0]
        first, end = busy[0], next(s for s in busy if s[1] == calls[-1][1])
        busiest, j = 0, 0
        for i, (t, n) in enumerate(calls):
            j = max(j, i)
            while j + 1 < len(calls) and calls[j + 1][0] - t <= 1.0:
                j += 1
            busiest = max(busiest, calls[j][1] - n)
        return end[1] - first[1], end[0] - first[0], busiest

    def first_time(self, since, op, base, reached):
        """When the counter `op` (less `base`) first showed `reached`, at or after `since`."""
        return next((t for t, c in self.samples if t >= since and c.get(op, 0) - base >= reached), None)


def part_b(args, report):
    from django.conf import settings

    print(
        f"\n(b) Three processes, one tenant: `manage.py syncjobs --full` for three accounts of one MetaStudio "
        f"project (avatar, voice, avatar; {args.multi_jobs:,} jobs each), budget {args.rps:g}/s each"
    )
    backends = [("SQLite governor (shared DATA_DIR)", sqlite_governor(settings.DATA_DIR))]
    if args.redis:
        backends.append(("Redis governor", args.redis_url))
    fc = start_fakecloud(args, args.multi_jobs)
    try:
        for n, (label, url) in enumerate(backends):
            three_processes(args, fc, label, url, f"b{n}", report)
    finally:
        fc.stop()


def three_processes(args, fc, label, url, prefix, report):
    kinds = [AVATAR, VOICE, AVATAR]
    names = []
    for i, kind in enumerate(kinds):
        names.append(f"{prefix}-{i}")
        make_huawei_account(fc, names[-1], [kind], args.rps)
    env = dict(os.environ, RATE_LIMIT_URL=url, SYNC_DETAIL_BUDGET="0")
    fresh_budget(fc, args.rps)
    fc.reset_counters()
    sampler = Sampler(fc)
    sampler.start()
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "syncjobs", "--account", name, "--kind", kind, "--full"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, kind in zip(names, kinds)
    ]
    outputs = [proc.communicate() for proc in procs]
    took = time.perf_counter() - t
    sampler.stopping.set()
    sampler.join()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, f"syncjobs failed ({proc.returncode}): {out} {err}"
    counters = fc.counters()
    calls = huawei_calls(counters)
    throttled = counters.get("throttled", 0)
    requests, seconds, busiest = sampler.rates()
    mean = requests / seconds
    # The governor admits rps requests in any one second, so a run of T seconds may hold
    # rps x (T + 1): the first second's burst (fakecloud's bucket, burst = rps, admits the same).
    allowed = args.rps * (seconds + 1) / seconds
    print(f"  {label}: all three done in {took:.1f}s (Django start-up included), {calls:,} requests")
    for out, _ in outputs:
        print("    " + out.strip().splitlines()[-1])
    print(
        "    "
        + report.target(
            f"(b) {label}: combined requests/s",
            mean <= allowed,
            f"combined {mean:.1f} requests/s ({requests:,} in {seconds:.1f}s, fakecloud's counters), target <= "
            f"{args.rps:g}/s plus the one-second burst both budgets admit (<= {allowed:.1f}/s over {seconds:.0f}s)",
        )
        + f"; busiest second: {busiest} requests"
    )
    print("    " + report.target(f"(b) {label}: throttled", throttled == 0, f"throttled {throttled}, target 0"))


# -- (c) ------------------------------------------------------------------------------------


class Watcher(threading.Thread):
    """Polls the cache for changed jobs: when does each row show its new state?"""

    def __init__(self, account, every=0.25):
        super().__init__(name="cache-watcher", daemon=True)
        self.account_id, self.every = account.pk, every
        self.lock = threading.Lock()
        self.pending = {}  # (kind, remote_id) -> (new state, monotonic time of the change)
        self.seen = []  # (kind, remote_id, changed at, seen at)
        self.stopping = threading.Event()

    def add(self, kind, remote_id, state, at):
        with self.lock:
            self.pending[(kind, remote_id)] = (state, at)

    def run(self):
        from django.db import connection

        try:
            while not self.stopping.wait(self.every):
                self.poll()
            self.poll()
        finally:
            connection.close()

    def poll(self):
        from jobs.models import Job

        with self.lock:
            pending = dict(self.pending)
        by_kind = {}
        for (kind, rid), value in pending.items():
            by_kind.setdefault(kind, {})[rid] = value
        found = []
        for kind, wanted in by_kind.items():
            ids = list(wanted)
            for i in range(0, len(ids), 500):
                rows = Job.objects.filter(account_id=self.account_id, kind=kind, remote_id__in=ids[i : i + 500])
                for rid, state in rows.values_list("remote_id", "state"):
                    if state == wanted[rid][0]:
                        found.append((kind, rid, wanted[rid][1]))
        now = time.monotonic()
        with self.lock:
            for kind, rid, changed_at in found:
                self.pending.pop((kind, rid), None)
                self.seen.append((kind, rid, changed_at, now))


class Changer(threading.Thread):
    """Applies planned state changes at random moments over `spread` seconds, in about ten
    batches sent at once: after a change, fakecloud's next filtered list call rebuilds its
    listing snapshot (about 0.2 s of its CPU at 100,000 jobs, holding its store lock), so
    changes sent one by one while a listing runs would slow that listing several times over."""

    def __init__(self, fc, plan, spread, watcher, seed):
        super().__init__(name="changer", daemon=True)
        self.fc, self.watcher = fc, watcher
        rng = random.Random(seed)
        step = max(1.0, spread / 10)
        self.ticks = {}
        for change in plan:
            self.ticks.setdefault(step * int(rng.uniform(0, spread) / step), []).append(change)

    def run(self):
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=32, thread_name_prefix="changer") as pool:
            for tick in sorted(self.ticks):
                time.sleep(max(0.0, start + tick - time.monotonic()))
                list(pool.map(self.apply, self.ticks[tick]))

    def apply(self, change):
        kind, rid, state = change
        at = time.monotonic()
        self.fc.set_state(FAKE_KIND[kind], rid, state)
        self.watcher.add(kind, rid, state, at)


LIST_OP = {AVATAR: "avatar.list", VOICE: "voice.list"}
BY_ID_OP = {AVATAR: "avatar.detail", VOICE: "voice.detail"}


def phase_times(sampler, kinds, before, r, details):
    """Each kind's listing, reads by id (step 3 of jobs.sync.incremental) and detail phase: how
    long, how many calls, what rate. Kinds run one after the other, their phases in this order."""
    out = []
    at = r["start"]
    for n, kind in enumerate(kinds):
        listed = r["counters"][LIST_OP[kind]] - before.get(LIST_OP[kind], 0)
        by_id = r["counters"][BY_ID_OP[kind]] - before.get(BY_ID_OP[kind], 0) - (details[kind] if kind == AVATAR else 0)
        list_end = sampler.first_time(at, LIST_OP[kind], before.get(LIST_OP[kind], 0), listed) or r["end"]
        by_id_end = sampler.first_time(list_end, BY_ID_OP[kind], before.get(BY_ID_OP[kind], 0), by_id) or r["end"]
        if n + 1 < len(kinds):
            following = LIST_OP[kinds[n + 1]]
            kind_end = sampler.first_time(by_id_end, following, before.get(following, 0), 1) or r["end"]
        else:
            kind_end = r["end"]
        detail_calls = details[kind]
        if kind == VOICE:  # op-log pages and audit results
            detail_calls = sum(r["counters"][op] - before.get(op, 0) for op in ("voice.oplogs", "voice.audit"))
        parts = []
        for name, calls, seconds in (
            ("listing", listed, list_end - at),
            ("by id", by_id, by_id_end - list_end),
            ("details", detail_calls, kind_end - by_id_end),
        ):
            if calls:
                parts.append(f"{name} {max(0.0, seconds):.1f}s ({calls:,} calls, {calls / max(seconds, 0.25):.1f}/s)")
        out.append(f"{FAKE_KIND[kind]}: " + ", ".join(parts))
        at = kind_end
    return out


def next_state(fc, kind, remote_id):
    """The job's next state on its vendor path, or a settled one when its path ends here."""
    info = fc.job(FAKE_KIND[kind], remote_id)
    upcoming = [state for t, state in info["schedule"] if t == info["next_transition_ms"]]
    return upcoming[0] if upcoming else SETTLED_STATE[kind]


def part_c(args, fc, account, avatar_full, report):
    from django.conf import settings

    from jobs import sync
    from jobs.models import Job
    from jobs.status import moving_states, waiting_states

    kinds = [AVATAR, VOICE] if args.voice else [AVATAR]
    budget = args.detail_budget
    per_kind = round(args.change_share / 100 * args.jobs)
    print(
        f"\n(c) Steady state: {' + '.join(f'{args.jobs:,} {FAKE_KIND[kind]}' for kind in kinds)} jobs, "
        f"{per_kind:,} of each kind ({args.change_share:g} %) changed between refreshes; "
        f"detail budget {budget}"
    )
    full_calls = avatar_full.pages
    if args.voice:
        settings.SYNC_DETAIL_BUDGET = 0
        fresh_budget(fc, args.rps)
        t = time.perf_counter()
        voice_full = sync.sync_account_kind(account, VOICE, full=True)
        assert voice_full.outcome == "succeeded" and voice_full.seen == args.jobs, sync.run_reason(voice_full)
        print(f"  first full sync of the voice jobs: {time.perf_counter() - t:.1f}s (the avatar jobs' was (a))")
        full_calls += voice_full.pages
    # Steady state: the first sync's detail backlog (every job) would take hours at this rate;
    # count it as read, so a refresh's detail reads are those of its changes.
    Job.objects.filter(account=account).update(needs_detail=False)
    settings.SYNC_DETAIL_BUDGET = budget

    rng = random.Random(args.seed)
    pools, floor_pages, waiting_pages = {}, 0, 0
    moving = {kind: set(moving_states(kind)) for kind in kinds}
    moves = {"moving": 0, "settled": 0}
    for kind in kinds:
        jobs = fc.jobs(FAKE_KIND[kind])
        ids = [job["job_id"] for job in jobs if job["state"] in moving[kind]]
        waiting = sum(1 for job in jobs if job["state"] in set(waiting_states(kind)))
        floor_pages += math.ceil(len(ids) / PAGE)
        waiting_pages += math.ceil(waiting / PAGE)
        print(
            f"  fakecloud's {kind} jobs in states the vendor moves (listed by every incremental refresh): "
            f"{len(ids):,} = {pct(len(ids) / args.jobs)}; waiting on a person (listed every "
            f"SYNC_WAITING_INTERVAL = {settings.SYNC_WAITING_INTERVAL}s): {waiting:,} = {pct(waiting / args.jobs)}"
        )
        pools[kind] = rng.sample(ids, min(len(ids), per_kind * args.cycles))
    print(
        f"  -> an incremental listing cannot cost less than {floor_pages:,} calls = "
        f"{pct(floor_pages / full_calls)} of a full listing ({full_calls:,} calls) with this data; "
        f"a waiting one {floor_pages + waiting_pages:,}"
    )

    watcher = Watcher(account)
    watcher.start()
    sampler = Sampler(fc, every=0.25)
    sampler.start()
    refreshes, phases = [], []
    print(
        f"  a refresh every {args.interval:g}s (as beat starts them); the changes of a cycle are spread over its interval"
    )
    print("   refresh  seconds  listing  by-id  details  calls  changed  seen  rows updated  throttled  detail backlog")
    t0 = time.monotonic()
    k = 0
    while True:
        plan = []
        if 1 <= k <= args.cycles:
            for kind in kinds:
                for rid in pools[kind][(k - 1) * per_kind : k * per_kind]:
                    plan.append((kind, rid, next_state(fc, kind, rid)))
                    moves["moving" if plan[-1][2] in moving[kind] else "settled"] += 1
        time.sleep(max(0.0, t0 + k * args.interval - time.monotonic()))
        changer = Changer(fc, plan, args.interval, watcher, seed=args.seed + k)
        before = fc.counters()
        start = time.monotonic()
        changer.start()
        runs = sync.sync_account(account, kinds, trigger="command")
        end = time.monotonic()
        for run in runs:
            assert run.outcome == "succeeded" and run.mode == "incremental", (run.mode, sync.run_reason(run))
        after = fc.counters()
        details = {run.kind: run.details_fetched for run in runs}
        r = {
            "start": start,
            "end": end,
            "listing": delta(after, before, "avatar.list", "voice.list"),
            # A by-id read of an avatar job is the same Show call as its detail read.
            "by_id": delta(after, before, "avatar.detail", "voice.detail") - details.get(AVATAR, 0),
            "details": sum(details.values()),
            "updated": sum(run.updated for run in runs),
            "calls": huawei_calls(after) - huawei_calls(before),
            "throttled": delta(after, before, "throttled"),
            "changed": len(plan),
            "backlog": Job.objects.filter(account=account, needs_detail=True, gone=False).count(),
            "counters": after,
        }
        time.sleep(2 * watcher.every)  # the last rows written are seen before counting
        r["seen"] = sum(1 for *_, seen_at in watcher.seen if start <= seen_at <= end + 2 * watcher.every)
        refreshes.append(r)
        label = (
            "first" if k == 0 else (str(k) if k <= args.cycles else ("last" if k == args.cycles + 1 else "catch-up"))
        )
        print(
            f"  {label:>8}  {end - start:7.1f}  {r['listing']:7,}  {r['by_id']:5,}  {r['details']:7,}  "
            f"{r['calls']:5,}  {r['changed']:7,}  {r['seen']:4,}  {r['updated']:12,}  {r['throttled']:9,}  {r['backlog']:,}"
        )
        phases.append(f"  {label:>8}  " + "; ".join(phase_times(sampler, kinds, before, r, details)))
        changer.join()
        k += 1
        # After the changing cycles: one more refresh, then more while details wait (the detail
        # budget caps each refresh), at most four.
        if k > args.cycles + 1 and (r["backlog"] == 0 or k > args.cycles + 5):
            break
    # Every SYNC_WAITING_INTERVAL a refresh lists the jobs waiting on a person as well.
    before = fc.counters()
    start = time.monotonic()
    runs = sync.sync_account(account, kinds, trigger="command", mode="waiting")
    waiting_seconds = time.monotonic() - start
    assert all(run.outcome == "succeeded" for run in runs), [sync.run_reason(run) for run in runs]
    waiting_listing = delta(fc.counters(), before, "avatar.list", "voice.list")
    print(
        f"  waiting  {waiting_seconds:7.1f}  {waiting_listing:7,}  (a refresh that also lists the jobs waiting on a person)"
    )
    watcher.stopping.set()
    sampler.stopping.set()
    watcher.join()
    sampler.join()
    print("  where the time went, by kind (fakecloud's counters, sampled every 0.25 s):")
    print("\n".join(phases))
    print(
        f"  changes: jobs in a state the vendor moves went to their next state, or settled where their path "
        f"ends: {moves['moving']:,} to a state the vendor moves (listed again), {moves['settled']:,} to a settled "
        "state or one waiting on a person (read by id)"
    )
    summarise_c(args, refreshes, full_calls, watcher, budget, moves, waiting_listing, report)


def summarise_c(args, refreshes, full_calls, watcher, budget, moves, waiting_listing, report):
    from django.conf import settings

    changing = refreshes[1 : args.cycles + 1]
    listing = statistics.mean(r["listing"] for r in changing)
    interval = statistics.mean(b["start"] - a["start"] for a, b in zip(refreshes, refreshes[1:]))
    # One refresh in every SYNC_WAITING_INTERVAL / interval lists the waiting jobs as well.
    every = max(1.0, settings.SYNC_WAITING_INTERVAL / interval)
    listing += (waiting_listing - refreshes[0]["listing"]) / every
    share = listing / full_calls
    print(
        f"  listing calls: {refreshes[0]['listing']:,} with nothing changed, {waiting_listing:,} with the waiting "
        f"jobs, {listing:,.1f} per refresh with changes (the waiting refresh's extra calls spread over the "
        f"{every:.0f} refreshes of {interval:.0f}s in SYNC_WAITING_INTERVAL); a full listing "
        + report.target(
            "(c) incremental listing vs full",
            share <= TARGETS["incremental_share"],
            f"{full_calls:,}: {pct(share)} of it, target <= {TARGETS['incremental_share']:.0%}",
        )
    )
    changed = sum(r["changed"] for r in refreshes)
    details = sum(r["details"] for r in refreshes[1:])
    by_id = sum(r["by_id"] for r in refreshes[1:])
    lo, hi = TARGETS["detail_ratio"]
    ratio = details / changed if changed else 0.0
    print(
        f"  detail reads: {details:,} for {changed:,} changed jobs "
        + report.target(
            "(c) detail reads vs changed jobs",
            lo <= ratio <= hi,
            f"= {ratio:.2f} per change, target {lo:g}-{hi:g} (budget {budget} a kind per refresh)",
        )
    )
    updated = sum(r["updated"] for r in refreshes[1:])
    seen = len(watcher.seen)
    print(
        f"  reads by id besides detail reads: {by_id:,} ({moves['settled']:,} changes left the moving states; "
        "an avatar job's read by id is its detail read, one Show call)"
    )
    print(f"  rows updated: {updated:,} for {seen:,} changes seen")
    latencies = [seen_at - changed_at for _, _, changed_at, seen_at in watcher.seen]
    if not latencies:
        print("  time to the cache: no change was seen")
        report.target("(c) time to the cache", False, "")
        return
    p95 = percentile(latencies, 0.95)
    print(
        f"  time from a change to the cache ({len(latencies):,} changes seen, {len(watcher.pending):,} never): "
        f"p50 {percentile(latencies, 0.5):.1f}s, p95 {p95:.1f}s, max {max(latencies):.1f}s; "
        + report.target(
            "(c) time to the cache, p95",
            p95 <= interval and not watcher.pending,
            f"refresh interval {interval:.1f}s, target p95 <= one interval",
        )
    )


# -- the run ---------------------------------------------------------------------------------


def run(args):
    from django.conf import settings
    from django.db import connection

    from jobs.providers import quota

    if args.detail_budget is None:  # read before (a) sets it to 0
        args.detail_budget = settings.SYNC_DETAIL_BUDGET
    if args.fetch_ahead is not None:
        settings.SYNC_FETCH_AHEAD = args.fetch_ahead
        os.environ["SYNC_FETCH_AHEAD"] = str(args.fetch_ahead)  # the processes of (b)
    report = Report()
    backend = "Redis " + args.redis_url if args.redis else "SQLite file in DATA_DIR"
    print(
        f"bench/quota: fakecloud --rate-limit {args.rps:g}/s per tenant, latency {args.latency_ms} "
        f"± {args.jitter_ms if args.latency_ms > 0 else 0} ms; every account max_rps {args.rps:g}; governor {backend}; "
        f"SYNC_FETCH_AHEAD {settings.SYNC_FETCH_AHEAD}; cache {connection.vendor}"
    )
    assert quota.backend_url() == settings.RATE_LIMIT_URL
    if args.redis:
        forget_redis_budget(args.redis_url)
    started = time.perf_counter()
    fc = start_fakecloud(args, args.jobs)
    try:
        account = make_huawei_account(fc, "steady", [AVATAR, VOICE] if args.voice else [AVATAR], args.rps)
        avatar_full = part_a(args, fc, account, report)
        part_b(args, report)
        part_c(args, fc, account, avatar_full, report)
    finally:
        fc.stop()
    missed = [label for label, met in report.rows if not met]
    print(
        f"\nbench/quota took {time.perf_counter() - started:.0f}s; targets met: "
        f"{len(report.rows) - len(missed)} of {len(report.rows)}" + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    return 1 if missed else 0
