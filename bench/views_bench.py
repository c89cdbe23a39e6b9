"""Dashboard view benchmark (not a test): server time of the job list, its deep keyset pages,
filtered pages and a job page with 1,000 events, beside the Django admin changelist on the
same table.

    bench/views                      1,000,000 jobs on SQLite in a temporary DATA_DIR
    bench/views --jobs 200000        fewer jobs
    bench/views --postgres           the same on PostgreSQL (a scratch database, dropped after)

Each case is requested through the Django test client (the whole middleware stack, a logged-in
session), warmed up, then timed `--iterations` times; p50/p95 are printed in milliseconds.
Targets: p95 <= 50 ms for every list and job page case; p95 <= 100 ms for the insight pages
(failure triage, batch and tag roll-ups, stage analytics: issue #13); the deep list page >= 5x
faster than the admin's deep page. The fill also times each partition's roll-up refresh (what
a sync run of that size pays after its writes).
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = [
    "avatar",
    "voice",
    "主播",
    "客服",
    "news",
    "数字人",
    "sales",
    "teacher",
    "host",
    "demo",
    "lesson",
    "直播",
    "promo",
    "anchor",
    "guide",
    "podcast",
    "review",
    "讲师",
    "studio",
    "brand",
]
AVATAR_STATES = [
    "TRAINING",
    "JOB_SUCCESS",
    "JOB_SUCCESS",
    "JOB_SUCCESS",
    "TRAIN_FAILED",
    "MANUAL_VERIFYING",
    "WAIT_FILE_UPLOAD",
    "COMPILING",
    "AUTO_VERIFY_FAILED",
    "JOB_PENDING",
]
VOICE_STATES = ["SUCCEED", "SUCCEED", "SUCCEED", "PROCESSING", "FAILED", "AUDITING", "AUDIT_FAILED", "WAITING"]
TRANSLATION_STATES = ["Success", "Success", "Success", "Running", "Failed", "Submitted", "Cancel", "Pause"]


# Cases held to the insight pages' target (p95 <= 100 ms) rather than the list's 50 ms.
INSIGHT_PAGES = ("failure triage", "batch", "stages")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=1000, help="events on the detail page's job")
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--postgres", action="store_true", help="use PostgreSQL (scratch database tod_bench_views)")
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary DATA_DIR and the PostgreSQL database (to inspect plans)"
    )
    p.add_argument("--profile", metavar="URL", help="print a cProfile of one URL instead of the benchmark")
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    return p.parse_args()


def setup_environment(args):
    data_dir = tempfile.mkdtemp(prefix="tod-bench-views-")
    os.environ["DATA_DIR"] = data_dir
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.postgres:
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS tod_bench_views")
            conn.execute("CREATE DATABASE tod_bench_views")
        os.environ["DATABASE_URL"] = args.pg_url.rsplit("/", 1)[0] + "/tod_bench_views"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


# Failure reasons spread over the failed jobs (vendor codes, and texts with node numbers and
# timings that the triage folds): a few dozen groups, as a real cache has.
FAILURES = [
    ("", "training worker exited with code 137 on node-{n}"),
    ("", "training worker exited with code 1 on node-{n}"),
    ("", "inference data preprocess timed out after {t} s"),
    ("", "GPU out of memory on gpu-{n}"),
    ("MSS.20030035", "训练失败：有效音频时长不足"),
    ("MSS.20030041", "音频文件解析失败，请检查压缩包中的音频格式"),
    ("InternalError", "Translation engine internal error, please retry"),
    ("", "训练视频中未检测到稳定人脸"),
    ("44005901", "视频分辨率不符合要求"),
    ("", "upload of /data/jobs/{t}/frames.tar failed: connection reset"),
]


def fill(n_jobs, n_events):
    """Bulk-insert n_jobs jobs over three accounts (raw executemany: the ORM is too slow for a
    million rows), then one job with n_events events and an assessment."""
    from django.db import connection, transaction

    from jobs import triage
    from jobs.models import CloudAccount, Job, JobEvent
    from jobs.status import unified_status

    accounts = [
        CloudAccount.objects.create(name="huawei-bj", provider="huawei", region="cn-north-4", project_id="p" * 32),
        CloudAccount.objects.create(name="huawei-sg", provider="huawei", region="ap-southeast-3", project_id="q" * 32),
        CloudAccount.objects.create(
            name="tencent-gz", provider="tencent", region="ap-guangzhou", bucket="b-125", queue_id="q1"
        ),
    ]
    rnd = random.Random(42)
    now = datetime.now(UTC)
    ops = connection.ops
    fields = [f for f in Job._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {Job._meta.db_table} ({columns}) VALUES ({placeholders})"

    def adapt(field, value):
        if value is None:
            return None
        internal = field.get_internal_type()
        if internal == "DateTimeField":
            return ops.adapt_datetimefield_value(value)
        if internal == "JSONField":
            return json.dumps(value, ensure_ascii=False)
        return value

    started = time.perf_counter()
    batch = []
    with transaction.atomic():
        if connection.vendor == "sqlite":
            with connection.cursor() as cur:
                cur.execute("PRAGMA cache_size=-200000")
        for i in range(n_jobs):
            account = accounts[0] if i % 10 < 5 else accounts[1] if i % 10 < 8 else accounts[2]
            if account.provider == "tencent":
                kind, state = "translation", rnd.choice(TRANSLATION_STATES)
            elif i % 3 == 0:
                kind, state = "voice_training", rnd.choice(VOICE_STATES)
            else:
                kind, state = "avatar_training", rnd.choice(AVATAR_STATES)
            # Spread over two years, newest first-ish with jitter; ties happen.
            updated = now - timedelta(seconds=(n_jobs - i) * 60 + rnd.randint(0, 600))
            created = updated - timedelta(hours=rnd.randint(1, 200))
            tags = [rnd.choice(["vip", "cn", "en", "retry", "batch-a"])]
            values = {
                "account": account.pk,
                "kind": kind,
                "remote_id": f"{i:08x}-{rnd.getrandbits(64):016x}",
                "name": f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {i}",
                "state": state,
                "status": unified_status(kind, state),
                "created_at": created,
                "updated_at": updated,
                "started_at": None,
                "finished_at": None,
                "batch": f"batch-{i % 500}",
                "tags": tags,
                "tags_text": "|" + "|".join(tags) + "|",
                "edition": "V3.2" if kind == "avatar_training" else "",
                "language": "",
                "linked_job_id": "",
                "asset_id": "",
                "error_code": "",
                "error_message": "",
                "failure_group": "",
                "payload": {"job_id": i},
                "fingerprint": "",
                "first_seen_at": created,
                "synced_at": updated,
                "state_changed_at": updated,
                "needs_detail": False,
                "detail_synced_at": None,
                "gone": i % 97 == 0,
                "gone_at": None,
            }
            if values["status"] == "failed":  # a reason as the sync leaves it, and its triage group
                code, text = rnd.choice(FAILURES)
                values["error_code"] = code
                values["error_message"] = text.format(n=rnd.randint(1, 64), t=rnd.randint(100, 9000))
                values["failure_group"] = triage.signature(kind, code, values["error_message"])
            batch.append(
                [
                    adapt(f, values[f.attname.removesuffix("_id") if f.attname == "account_id" else f.attname])
                    for f in fields
                ]
            )
            if len(batch) >= 20_000:
                with connection.cursor() as cur:
                    cur.executemany(sql, batch)
                batch = []
        if batch:
            with connection.cursor() as cur:
                cur.executemany(sql, batch)
    fill_seconds = time.perf_counter() - started

    job = Job.objects.filter(kind="voice_training").order_by("-updated_at", "-id").first()
    t0 = now - timedelta(days=30)
    steps = ["CREATING", "SYSTEM_AUDITING", "WAITING", "PROCESSING", "RESULT_REVIEW"]
    JobEvent.objects.bulk_create(
        [
            JobEvent(
                job=job,
                occurred_at=t0 + timedelta(minutes=37 * k),
                source="oplog",
                action="STEP",
                operator="SYSTEM",
                to_state=steps[k % len(steps)],
                message="",
                key=f"bench-{k}",
            )
            for k in range(n_events)
        ],
        batch_size=1000,
    )
    from tests.fixtures_ui import make_assessment

    make_assessment(job)
    # Stage analytics: 3-6 stretches per job and the summary built from them (bench/stage_fill.py);
    # the job with events gets its stretches from them, as the sync writes them.
    from stage_fill import fill_stages

    from jobs import stages

    fill_stages(accounts)
    stages.restage([job.pk])
    with connection.cursor() as cur:
        # A table at rest, as autovacuum leaves it: statistics, and on PostgreSQL the
        # visibility map that lets a count be answered from an index alone.
        cur.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    # The summaries every sync run leaves for its account and kind (jobs.rollups), timed per
    # partition: what a sync of that size pays after its writes.
    from jobs import rollups

    for account in accounts:
        for kind in account.sync_kinds():
            t = time.perf_counter()
            made = rollups.refresh_partition(account.pk, kind)
            print(f"roll-up refresh {account.name}/{kind}: {time.perf_counter() - t:.2f}s, rows {made}", flush=True)
    return accounts, job, fill_seconds


def install_stock_admin():
    """The project's Job admin caps its count (so it never reaches a deep page); the deep-page
    comparison uses a stock ModelAdmin (full COUNT, OFFSET pages) on a second admin site."""
    import types

    from django.conf import settings
    from django.contrib import admin
    from django.urls import clear_url_caches, include, path, set_urlconf

    from jobs.models import Job

    site = admin.AdminSite(name="stockadmin")

    class StockJobAdmin(admin.ModelAdmin):
        list_display = ["remote_id", "name", "account", "kind", "status", "state", "updated_at", "gone"]
        ordering = ["-updated_at", "-id"]
        list_per_page = 50
        list_select_related = ["account"]

    site.register(Job, StockJobAdmin)
    module = types.ModuleType("bench_views_urls")
    module.urlpatterns = [path("stock-admin/", site.urls), path("", include(settings.ROOT_URLCONF))]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()
    set_urlconf(None)


def timed(client, url, iterations, headers=None, before=None):
    headers = headers or {}
    before = before or (lambda: None)
    for _ in range(3):
        response = client.get(url, **headers)
        assert response.status_code in (200, 204), (url, response.status_code)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    samples = []
    for _ in range(iterations):
        before()
        started = time.perf_counter()
        response = client.get(url, **headers)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)]
    return p50, p95


def main():
    args = parse_args()
    data_dir = setup_environment(args)
    try:
        return run(args)
    finally:
        import shutil

        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args):
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from jobs import selectors
    from jobs.models import Job

    print(f"backend: {connection.vendor}; filling {args.jobs:,} jobs …", flush=True)
    accounts, detail_job, fill_seconds = fill(args.jobs, args.events)
    print(f"filled in {fill_seconds:.1f}s", flush=True)

    install_stock_admin()
    admin = User.objects.create_superuser("bench", password="bench-pw-123")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)

    if args.profile:
        import cProfile
        import pstats

        profile_url = args.profile.replace("DETAIL", str(detail_job.pk))
        client.get(profile_url)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(20):
            client.get(profile_url)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0

    depth = int(args.jobs * 0.9)
    deep_job = Job.objects.filter(gone=False).order_by("-updated_at", "-id")[depth : depth + 1].get()
    cursor = selectors.encode_cursor(deep_job.updated_at, deep_job.pk)
    admin_deep_page = depth // 50 + 1
    word = "teacher"
    hx = {"HTTP_HX_REQUEST": "true"}

    cases = [
        ("list: first page", "/jobs/", None),
        ("list: deep keyset page (90%)", f"/jobs/?after={cursor}", hx),
        ("list: status=failed", "/jobs/?status=failed", None),
        ("list: kind=translation", "/jobs/?kind=translation", None),
        (f"list: account={accounts[1].name}", f"/jobs/?account={accounts[1].pk}", None),
        (f"list: text search '{word}'", f"/jobs/?q={word}", None),
        ("list: pasted job id", f"/jobs/?q={deep_job.remote_id}", None),
        ("list: sort by name", "/jobs/?sort=name", None),
        ("list: stuck only", "/jobs/?stuck=1", None),
        ("list: poll, nothing changed", "/jobs/?" + urlencode({"since": selectors.change_cursor().isoformat()}), hx),
        ("detail: 1,000 events + assessment", f"/jobs/{detail_job.pk}/", None),
        ("overview, cold (counts from the index)", "/", None),
        ("overview, counts cached", "/", None),
        ("sync page", "/sync/", None),
        ("failure triage: all failed jobs", "/triage/", None),
        ("failure triage: kind=avatar_training", "/triage/?kind=avatar_training", None),
        ("failure triage CSV", "/triage.csv", None),
        ("batches: all", "/batches/", None),
        ("batches: kind=avatar_training, page 3", "/batches/?kind=avatar_training&page=3", None),
        ("batches: tags", "/batches/?dimension=tag", None),
        ("batches CSV (500 batches)", "/batches.csv", None),
        ("batch page: list of batch-7", "/jobs/?batch=batch-7", None),
        ("stages: all", "/stages/", None),
        ("stages: kind=avatar_training", "/stages/?kind=avatar_training", None),
        ("stages: 7d window", "/stages/?window=7d", None),
        ("stages: 90d window", "/stages/?window=90d", None),
        ("stages CSV", "/stages.csv", None),
        ("counts fragment (lazy): no filter", "/jobs/counts/", hx),
        ("counts fragment (lazy): status=failed", "/jobs/counts/?status=failed", hx),
        ("project admin (capped count): first page", "/admin/jobs/job/", None),
        ("project admin (capped count): last page p=21", "/admin/jobs/job/?p=21", None),
        ("stock admin: first page", "/stock-admin/jobs/job/", None),
        (f"stock admin: deep page p={admin_deep_page}", f"/stock-admin/jobs/job/?p={admin_deep_page}", None),
    ]
    results = {}
    print(f"\n{'case':44} {'p50 ms':>9} {'p95 ms':>9}")
    for name, url, headers in cases:
        iterations = args.iterations if not name.startswith("stock admin") else max(10, args.iterations // 6)
        before = cache.clear if "cold" in name else None
        p50, p95 = timed(client, url, iterations, headers, before)
        results[name] = (p50, p95)
        print(f"{name:44} {p50:9.1f} {p95:9.1f}", flush=True)

    deep = results["list: deep keyset page (90%)"]
    admin_deep = results[f"stock admin: deep page p={admin_deep_page}"]
    print(f"\ndeep page: dashboard keyset is {admin_deep[0] / deep[0]:.1f}x faster than the admin's OFFSET page (p50)")
    dashboard = {k: v for k, v in results.items() if k.startswith(("list", "detail"))}
    worst = max(dashboard.items(), key=lambda kv: kv[1][1])
    print(f"worst dashboard p95: {worst[1][1]:.1f} ms ({worst[0]}); target <= 50 ms")
    # Issue #13: the insight pages (triage, roll-ups, stage analytics) within 100 ms at p95.
    insight = {k: v for k, v in results.items() if k.startswith(INSIGHT_PAGES)}
    worst_insight = max(insight.items(), key=lambda kv: kv[1][1])
    print(f"worst insight page p95: {worst_insight[1][1]:.1f} ms ({worst_insight[0]}); target <= 100 ms")
    ok = worst[1][1] <= 50 and admin_deep[0] / deep[0] >= 5 and worst_insight[1][1] <= 100
    print("targets met" if ok else "TARGETS MISSED")
    if args.postgres and args.keep:
        print("kept the database tod_bench_views")
    elif args.postgres:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS tod_bench_views")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
