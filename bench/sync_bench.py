"""Sync benchmark (run it as `bench/sync`, or `.venv/bin/python bench/sync`).

Syncs N avatar jobs (default 100,000) from a fakecloud subprocess on loopback into a fresh
database (SQLite in a temporary DATA_DIR, or PostgreSQL with --pg) and prints:

- the full sync (listing phase; detail fetches budgeted to 0): seconds, jobs/s, API calls, and
  with --pg on a local server the CPU its PostgreSQL backend spent (per row);
- the listing alone (HTTP + parsing, no database), to show where the time goes;
- the no-change resync, and its speed-up over the full sync;
- the detail phase, separately (SYNC_DETAIL_BUDGET fetches);
- a naive sync (update_or_create per job) through the same provider, in the same run, on
  --naive-jobs jobs (default 5,000), compared per job;
- peak RSS of this process (fakecloud runs in its own process).

Targets (issue 3): >= 5,000 jobs/s, >= 10x the naive sync, resync >= 3x faster than the full
sync, peak RSS <= 300 MB.
"""

import argparse
import os
import resource
import sys
import time

from benchdb import bench_django, make_huawei_account

TARGETS = {"jobs_per_s": 5000, "vs_naive": 10, "resync_speedup": 3, "rss_mb": 300}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/sync", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=100_000, help="avatar jobs at the fakecloud (default 100000)")
    p.add_argument("--naive-jobs", type=int, default=5_000, help="jobs the naive sync handles (default 5000)")
    p.add_argument("--detail-budget", type=int, default=500, help="detail fetches in the detail phase")
    p.add_argument("--pg", action="store_true", help="PostgreSQL (a throw-away database) instead of SQLite")
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="admin URL for --pg")
    p.add_argument("--seed", type=int, default=11)
    return p.parse_args(argv)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def backend_cpu_seconds():
    """CPU seconds of this connection's PostgreSQL backend so far (a local server whose /proc we
    can read), else None: shows how much of a sync the database server itself spends."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def naive_sync(account, provider, limit):
    """What a first version would do: one update_or_create per listed job."""
    from jobs.models import Job
    from jobs.status import unified_status

    done = 0
    for page in provider.iter_pages("avatar_training"):
        for rec in page.records:
            Job.objects.update_or_create(
                account=account,
                kind=rec.kind,
                remote_id=rec.remote_id,
                defaults={
                    "name": rec.name[:512],
                    "state": rec.state[:64],
                    "status": unified_status(rec.kind, rec.state),
                    "created_at": rec.created_at,
                    "updated_at": rec.updated_at or rec.created_at,
                    "batch": rec.batch[:255],
                    "tags": list(rec.tags),
                    "edition": rec.edition[:64],
                    "asset_id": rec.asset_id[:128],
                    "payload": rec.payload,
                },
            )
            done += 1
        if done >= limit:
            break
    return done


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    # The code's own speed on loopback: a budget no listing reaches, so every call still takes
    # a token from the governor (its cost is in the figures) but never waits for one. What a
    # vendor's quota does to a sync is bench/quota's subject.
    with bench_django("sync", args.pg_url if args.pg else None, lambda data_dir: {"SYNC_DEFAULT_MAX_RPS": "1000"}):
        return run(args)


def run(args):
    from django.conf import settings
    from django.db import connection

    from fakecloud.testing import FakeCloudProcess
    from jobs import sync
    from jobs.models import Job
    from jobs.providers import get_provider
    from jobs.sync.details import fetch_details
    from jobs.sync.kind import KindSync

    n = args.jobs
    print(f"bench/sync: {n:,} avatar jobs from a fakecloud subprocess on loopback -> {connection.vendor}")
    t = time.perf_counter()
    with FakeCloudProcess(jobs=n, seed=args.seed, speed=0, extra_args=["--short-jobs", "0", "--arrivals", "0"]) as fc:
        print(f"  fakecloud ready in {time.perf_counter() - t:.1f}s at {fc.url}")
        account = make_huawei_account(fc, "bench", ["avatar_training"])

        # 1. The listing alone: HTTP + signing + parsing, no database.
        p = get_provider(account)
        t = time.perf_counter()
        listed = sum(len(page.records) for page in p.iter_pages("avatar_training"))
        t_list = time.perf_counter() - t
        print(
            f"  listing only (HTTP + parse): {listed:,} jobs in {t_list:.2f}s "
            f"({listed / t_list:,.0f} jobs/s, {p.api_calls} calls)"
        )

        # 2. Full sync, listing phase (the detail phase is measured separately below).
        settings.SYNC_DETAIL_BUDGET = 0
        p = get_provider(account)
        backend_before = backend_cpu_seconds()
        t = time.perf_counter()
        run_full = sync.sync_account_kind(account, "avatar_training", provider=p, full=True)
        t_full = time.perf_counter() - t
        backend_after = backend_cpu_seconds()
        assert run_full.outcome == "succeeded", sync.run_reason(run_full)
        assert Job.objects.filter(account=account).count() == n == run_full.created
        rate = n / t_full
        print(
            f"  full sync:   {t_full:6.2f}s  {rate:8,.0f} jobs/s  {run_full.api_calls} API calls  "
            f"{run_full.pages} pages, {run_full.created:,} created"
        )
        if backend_before is not None and backend_after is not None:
            spent = backend_after - backend_before
            print(
                f"               of which the PostgreSQL server's CPU: {spent:.2f}s ({spent / n * 1e6:.0f} us per row)"
            )

        # 3. No-change resync.
        p = get_provider(account)
        t = time.perf_counter()
        run_re = sync.sync_account_kind(account, "avatar_training", provider=p, full=True)
        t_re = time.perf_counter() - t
        assert run_re.outcome == "succeeded" and run_re.unchanged == n and run_re.updated == 0
        speedup = t_full / t_re
        print(
            f"  resync:      {t_re:6.2f}s  {n / t_re:8,.0f} jobs/s  {run_re.api_calls} API calls  "
            f"0 rows written; {speedup:.1f}x faster than the full sync"
        )

        # 4. The detail phase, on its own budget.
        settings.SYNC_DETAIL_BUDGET = args.detail_budget
        p = get_provider(account)
        ks = KindSync(account, "avatar_training", p, run_re)
        t = time.perf_counter()
        fetch_details(ks, args.detail_budget)
        t_detail = time.perf_counter() - t
        print(
            f"  detail phase: {ks.counters.details_fetched} details, {ks.counters.events_created:,} events "
            f"in {t_detail:.2f}s ({p.api_calls} API calls; the rest wait for later runs)"
        )

        # 5. Naive baseline, same provider path, same database, on a smaller N.
        settings.SYNC_DETAIL_BUDGET = 0
        naive_account = make_huawei_account(fc, "naive", ["avatar_training"])
        p = get_provider(naive_account)
        t = time.perf_counter()
        naive_n = naive_sync(naive_account, p, args.naive_jobs)
        t_naive = time.perf_counter() - t
        naive_rate = naive_n / t_naive
        ratio = rate / naive_rate
        print(
            f"  naive sync (update_or_create per job): {naive_n:,} jobs in {t_naive:.2f}s = {naive_rate:,.0f} jobs/s "
            f"(measured on {naive_n:,} jobs, extrapolated per job: {n / naive_rate:.0f}s for {n:,})"
        )
        print(f"  bulk sync vs naive: {ratio:.1f}x")

    rss = peak_rss_mb()
    print(f"  peak RSS (this process): {rss:.0f} MB")
    results = {"jobs_per_s": rate, "vs_naive": ratio, "resync_speedup": speedup, "rss_mb": rss}
    ok = (
        results["jobs_per_s"] >= TARGETS["jobs_per_s"]
        and results["vs_naive"] >= TARGETS["vs_naive"]
        and results["resync_speedup"] >= TARGETS["resync_speedup"]
        and results["rss_mb"] <= TARGETS["rss_mb"]
    )
    print(
        "  targets: >= {jobs_per_s:,} jobs/s, >= {vs_naive}x naive, resync >= {resync_speedup}x, "
        "RSS <= {rss_mb} MB: {verdict}".format(**TARGETS, verdict="met" if ok else "NOT met")
    )
    return 0 if ok else 1
