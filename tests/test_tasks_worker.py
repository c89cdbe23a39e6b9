"""A real Celery worker and beat, as subprocesses, run the dispatcher and the syncs end to end.

Embedded stack: a file SQLite database and the filesystem broker under a temporary DATA_DIR.
Production stack: a throw-away PostgreSQL database and Redis (on its own queue name).
Both databases arrive migrated (tests/fixtures_stack.py).
The test reads the results straight from that database; fakecloud runs in this process.
"""

import sqlite3
import uuid

import pytest

from fakecloud.testing import FakeCloudServer
from tests.fixtures_stack import Stack, base_env, manage, wait_until

pytestmark = pytest.mark.slow


def run_end_to_end(env, query, tmp_path):
    with FakeCloudServer(jobs=12, seed=3, speed=0) as fc:
        manage(env, "demo_setup", "--fakecloud-url", fc.url, "--dispatch-every", "1", "--sync-interval", "3")
        want = {
            kind: len(fc.jobs(name))
            for kind, name in (
                ("avatar_training", "avatar"),
                ("voice_training", "voice"),
                ("translation", "translation"),
                ("voice_assessment", "short"),
            )
        }

        stack = Stack(env, tmp_path)
        try:
            stack.start(
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "-I",
                "jobs.tasks",
                "-n",
                f"e2e-{uuid.uuid4().hex[:6]}@%h",
                name="worker",
            )
            stack.start("beat", "-l", "info", "--schedule", str(tmp_path / "beat.db"), name="beat")

            def synced():
                rows = query("SELECT kind, COUNT(*) FROM jobs_syncrun WHERE outcome = 'succeeded' GROUP BY kind")
                kinds = dict(rows)
                return kinds if all(kinds.get(k) for k in want) else None

            wait_until(synced, stack, "a successful scheduled sync of every kind")
            counts = dict(query("SELECT kind, COUNT(*) FROM jobs_job GROUP BY kind"))
            assert counts == want
            triggers = {t for (t,) in query("SELECT DISTINCT trigger FROM jobs_syncrun")}
            assert triggers == {"schedule"}
            bad = query("SELECT kind, outcome, error_message FROM jobs_syncrun WHERE outcome IN ('failed', 'partial')")
            assert bad == []

            # Time passes at the vendor: the next dispatched syncs pick the changes up.
            fc.advance(8 * 3600)

            def observed():
                (n,) = query("SELECT COUNT(*) FROM jobs_jobevent WHERE source = 'observed'")[0]
                return n or None

            wait_until(observed, stack, "observed state changes from a later scheduled sync")
            (accounts,) = query("SELECT COUNT(*) FROM jobs_cloudaccount WHERE last_success_at IS NOT NULL")[0]
            assert accounts == 2
        finally:
            stack.stop()


def test_it_runs_dispatcher_and_syncs_with_sqlite_and_the_filesystem_broker(tmp_path, migrated_sqlite):
    env = base_env(tmp_path / "data")
    migrated_sqlite(tmp_path / "data")

    def query(sql):
        with sqlite3.connect(tmp_path / "data" / "db.sqlite3", timeout=20) as conn:
            return conn.execute(sql).fetchall()

    run_end_to_end(env, query, tmp_path)


def test_it_runs_dispatcher_and_syncs_with_postgresql_and_redis(production_stack, tmp_path):
    env, query = production_stack
    run_end_to_end(env, query, tmp_path)
