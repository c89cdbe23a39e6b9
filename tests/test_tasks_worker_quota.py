"""Many workers, one tenant: a real Celery worker (3 processes) on Redis and PostgreSQL syncs
three accounts of one MetaStudio tenant at once against a fakecloud that throttles like the
vendor. The shared quota governor (Redis) keeps them together inside the tenant's budget:
fakecloud answers no 429 and the combined request rate stays within the budget.
"""

import time
import uuid

import pytest
import redis

from fakecloud import defaults as d
from fakecloud.testing import FakeCloudServer
from jobs.providers import quota
from tests.fixtures_stack import REDIS_URL, Stack, manage, wait_until

pytestmark = pytest.mark.slow

VENDOR_LIMIT = 10  # fakecloud's per-tenant limit (requests/s, burst 10), like the vendor's
BUDGET = 8  # the accounts' shared budget, below the vendor's limit
ACCOUNTS = ("hw-a", "hw-b", "hw-c")
KINDS = ("avatar_training", "voice_training")
CALLS = ("avatar.list", "avatar.detail", "voice.list", "voice.detail", "voice.oplogs", "voice.audit")


def add_account(env, name, url):
    args = [
        "addaccount",
        name,
        "--provider",
        "huawei",
        "--region",
        "cn-north-4",
        "--endpoint",
        url,
        "--project-id",
        d.HUAWEI_PROJECT_ID,
        "--access-key",
        d.HUAWEI_AK,
        "--kinds",
        ",".join(KINDS),
        "--max-rps",
        str(BUDGET),
    ]
    manage(env, *args, stdin=d.HUAWEI_SK + "\n")


def test_three_workers_syncing_one_tenant_stay_within_its_budget(production_stack, tmp_path):
    env, query = production_stack
    with FakeCloudServer(jobs=30, seed=5, speed=0, short_jobs=0, arrivals=0, rate_limit=VENDOR_LIMIT) as fc:
        for account in ACCOUNTS:
            add_account(env, account, fc.url)
        redis.Redis.from_url(REDIS_URL).delete(quota.bucket_key(f"metastudio:cn-north-4:{d.HUAWEI_PROJECT_ID}"))

        stack = Stack(env, tmp_path)
        try:
            stack.start(
                "worker",
                "-l",
                "info",
                "--concurrency",
                "3",
                "-I",
                "jobs.tasks",
                "-n",
                f"quota-{uuid.uuid4().hex[:6]}@%h",
                name="worker",
            )
            fc.reset_counters()
            started = time.monotonic()
            manage(
                env,
                "shell",
                "-c",
                "from jobs import tasks; from jobs.models import CloudAccount\n"
                "for a in CloudAccount.objects.all(): tasks.sync_account.delay(a.pk, full=True)",
            )

            def done():
                rows = query("SELECT COUNT(*) FROM jobs_syncrun WHERE outcome IN ('succeeded', 'partial', 'failed')")
                return rows[0][0] == len(ACCOUNTS) * len(KINDS) or None

            wait_until(done, stack, "every account's syncs to finish")
            elapsed = time.monotonic() - started
        finally:
            stack.stop()
        counters = fc.counters()

    outcomes = query("SELECT outcome, error_message FROM jobs_syncrun WHERE outcome <> 'succeeded'")
    assert outcomes == []
    assert counters["throttled"] == 0
    calls = sum(counters[name] for name in CALLS)
    assert calls > 3 * BUDGET * 3  # enough calls that the budget had to hold them back
    # Averaged from the first enqueue (worker start-up included) to the last run finishing.
    assert calls / elapsed <= BUDGET
    first = query("SELECT MIN(started_at), MAX(started_at) FROM jobs_syncrun WHERE kind = 'avatar_training'")[0]
    assert (first[1] - first[0]).total_seconds() < elapsed / 3  # the three accounts ran at the same time
