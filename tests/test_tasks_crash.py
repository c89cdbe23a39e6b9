"""Crash recovery with real processes: a Celery worker killed (kill -9 of its process group, or
of its pool process alone) in the middle of a sync, then started again; and Ctrl-C of the demo.

- Redelivery: the killed sync's task runs again after the restart, on the embedded filesystem
  broker and on Redis, and does the work (it first waits for the killed sync's lease to lapse,
  or it would only be recorded as skipped).
- A scheduled sync whose message is gone (Redis keeps it for the visibility timeout) is healed
  by the dispatcher within one sync interval of the lease lapsing, and the killed run is closed.
- scripts/demo stops all its processes within 10 s of Ctrl-C while a sync runs.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
from celery.exceptions import Retry
from django.utils import timezone

from fakecloud.testing import FakeCloudServer
from jobs import tasks
from jobs.models import CloudAccount, SyncRun
from tests.fixtures_stack import REDIS_URL, ROOT, Stack, base_env, manage, wait_until

pytestmark = pytest.mark.slow

# SYNC_LEASE_SECONDS of the subprocesses: a killed sync's lease lapses within this. Long enough
# that a sync redelivered after a worker restart still finds the lease held, and must wait.
LEASE = 10
# Where no redelivery races the lease (a retry after a lost pool process, the dispatcher), a
# shorter one, so the tests wait less for it to lapse.
SHORT_LEASE = 5
INTERVAL = 10  # the demo accounts' sync interval in the dispatcher test (more than SHORT_LEASE + the kill)
VISIBILITY = 2  # CELERY_VISIBILITY_TIMEOUT on Redis
FINISHED = ("succeeded", "partial", "failed", "skipped")


def embedded(tmp_path, migrated_sqlite):
    env = base_env(tmp_path / "data")
    migrated_sqlite(tmp_path / "data")

    def query(sql):
        with sqlite3.connect(tmp_path / "data" / "db.sqlite3", timeout=20) as conn:
            return conn.execute(sql).fetchall()

    return env, query


def slow_fakecloud():
    """A fakecloud whose avatar calls take a second each, so a sync is caught in the middle
    (the tests clear that fault once the sync is killed: the run after the crash need not be slow)."""
    fc = FakeCloudServer(jobs=12, seed=3, speed=0, short_jobs=0, arrivals=0)
    fc.start()
    fc.set_fault("latency", op="avatar.*", ms=1000)
    return fc


def start_worker(stack):
    name = f"crash-{uuid.uuid4().hex[:6]}@%h"
    return stack.start("worker", "-l", "info", "--concurrency", "1", "-I", "jobs.tasks", "-n", name, name="worker")


def queue_manual_sync(env):
    """What "Sync now" does (tasks.start_manual_sync): a QUEUED run, then the task; its run id."""
    out = manage(
        env,
        "shell",
        "-c",
        "from jobs import tasks; from jobs.models import CloudAccount\n"
        "account = CloudAccount.objects.get(name='demo-huawei')\n"
        "print(tasks.start_manual_sync(account, kinds=['avatar_training'])[0].pk)",
    )
    return int(out.split()[-1])


def outcome(query, run_id):
    return query(f"SELECT outcome FROM jobs_syncrun WHERE id = {run_id}")[0][0]


@contextmanager
def manual_sync_running(env, query, tmp_path, lease=LEASE):
    """A slow fakecloud, a worker, and a manual sync it is running: (stack, worker, fc, run id)."""
    env.update(SYNC_LEASE_SECONDS=str(lease))
    fc = slow_fakecloud()
    stack = Stack(env, tmp_path)
    try:
        manage(env, "demo_setup", "--fakecloud-url", fc.url, "--no-track")
        worker = start_worker(stack)
        run_id = queue_manual_sync(env)
        wait_until(lambda: outcome(query, run_id) == "running", stack, "the sync to start")
        yield stack, worker, fc, run_id
    finally:
        stack.stop()
        fc.stop()


def kill_mid_sync_and_restart(env, query, tmp_path, before_restart=None):
    """A manual sync's worker is killed while the sync runs; the restarted worker must finish it."""
    with manual_sync_running(env, query, tmp_path) as (stack, worker, fc, run_id):
        stack.kill(worker)
        assert outcome(query, run_id) == "running"  # killed in the middle
        fc.clear_faults()
        if before_restart:
            before_restart(stack)

        start_worker(stack)
        wait_until(lambda: outcome(query, run_id) in FINISHED, stack, "the killed sync to run again")
        assert outcome(query, run_id) == "succeeded", stack.logs()
        (jobs,) = query("SELECT COUNT(*) FROM jobs_job WHERE kind = 'avatar_training'")[0]
        assert jobs == len(fc.jobs("avatar"))
        assert query("SELECT id FROM jobs_syncrun WHERE outcome IN ('running', 'queued')") == []


def test_the_embedded_broker_runs_a_sync_killed_with_its_worker_again(tmp_path, migrated_sqlite):
    env, query = embedded(tmp_path, migrated_sqlite)
    kill_mid_sync_and_restart(env, query, tmp_path)


def test_redis_runs_a_sync_killed_with_its_worker_again(production_stack, tmp_path):
    env, query = production_stack
    # Redis gives an unacknowledged message back once it is older than the visibility timeout:
    # 2 s here instead of an hour. A database of its own, since the unacknowledged set is per
    # database and other tests' workers use database 0.
    broker = REDIS_URL.rsplit("/", 1)[0] + "/13"
    env.update(CELERY_BROKER_URL=broker, CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY))

    def until_the_message_is_visible_again(stack):
        # kombu looks for such messages when a worker starts, then only every 100 s (its restore
        # interval times its throttle): a worker started before the timeout ran out would sit
        # idle for that long. So the new worker starts once the killed one's message is old enough.
        client = redis.Redis.from_url(broker)
        delivered = [score for _tag, score in client.zrange("unacked_index", 0, -1, withscores=True)]
        assert delivered, "the killed worker's message is not held unacknowledged"
        time.sleep(max(0.0, max(delivered) + VISIBILITY + 0.5 - time.time()))

    kill_mid_sync_and_restart(env, query, tmp_path, before_restart=until_the_message_is_visible_again)


def test_a_sync_whose_pool_process_died_runs_again(tmp_path, migrated_sqlite):
    """The OOM killer takes the pool process alone: the worker sends the task again."""
    env, query = embedded(tmp_path, migrated_sqlite)
    with manual_sync_running(env, query, tmp_path, lease=SHORT_LEASE) as (stack, worker, fc, run_id):
        # The retry comes SYNC_LEASE_SECONDS + 5 s after Celery notices the loss (10 s).
        pool = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
        assert len(pool) == 1
        os.kill(int(pool[0]), signal.SIGKILL)
        fc.clear_faults()

        wait_until(lambda: outcome(query, run_id) in FINISHED, stack, "the sync to run again")
        assert outcome(query, run_id) == "succeeded", stack.logs()


def test_the_dispatcher_resyncs_an_account_whose_killed_sync_was_lost(production_stack, tmp_path):
    """Redis keeps the killed scheduled sync's message for the visibility timeout (an hour; and
    a scheduled sync expires after its interval anyway): the dispatcher syncs the account again
    within one interval of the lease lapsing, and the killed run does not stay running."""
    env, query = production_stack
    env.update(SYNC_LEASE_SECONDS=str(SHORT_LEASE))
    fc = slow_fakecloud()
    stack = Stack(env, tmp_path)
    try:
        schedule = ["--dispatch-every", "1", "--sync-interval", str(INTERVAL)]
        manage(env, "demo_setup", "--fakecloud-url", fc.url, "--no-track", *schedule)
        runs = "SELECT id, outcome, started_at FROM jobs_syncrun WHERE kind = 'avatar_training' ORDER BY id"
        worker = start_worker(stack)
        beat = stack.start("beat", "-l", "info", "--schedule", str(tmp_path / "beat.db"), name="beat")
        killed = wait_until(lambda: [r for r in query(runs) if r[1] == "running"], stack, "a scheduled sync")[0]
        stack.kill(worker)
        stack.kill(beat)
        fc.clear_faults()
        ((lease_until,),) = query("SELECT lease_until FROM jobs_cloudaccount WHERE name = 'demo-huawei'")
        assert outcome(query, killed[0]) == "running"

        start_worker(stack)
        stack.start("beat", "-l", "info", "--schedule", str(tmp_path / "beat.db"), name="beat")
        healed = wait_until(
            lambda: [r for r in query(runs) if r[0] > killed[0] and r[1] == "succeeded"], stack, "a new sync"
        )[0]
        # Dispatched at the first round after the interval since the last enqueue, which
        # was before the kill: within one interval of the lease lapsing (plus a round and start-up).
        assert healed[2] <= lease_until + timedelta(seconds=INTERVAL + 5)
        assert outcome(query, killed[0]) == "failed"
    finally:
        stack.stop()
        fc.stop()


@pytest.mark.django_db
@pytest.mark.parametrize("redelivered", [True, False])
def test_a_redelivered_sync_waits_for_the_lease_of_the_sync_that_died(huawei_account, redelivered):
    """Redelivered (its worker died), a sync retries once the lease lapses instead of recording
    a skip; a sync delivered once skips a held lease, as before."""
    until = timezone.now() + timedelta(seconds=30)
    CloudAccount.objects.filter(pk=huawei_account.pk).update(lease_owner="a-dead-worker", lease_until=until)
    tasks.sync_account.push_request(
        id=str(uuid.uuid4()),
        args=[huawei_account.pk],
        kwargs={},
        called_directly=False,
        retries=0,
        delivery_info={"redelivered": redelivered},
    )
    try:
        if redelivered:
            with pytest.raises(Retry) as retry:
                tasks.sync_account.run(huawei_account.pk)
            assert 30 <= retry.value.when <= 31
            assert not SyncRun.objects.exists()
        else:
            tasks.sync_account.run(huawei_account.pk)
            assert {run.outcome for run in SyncRun.objects.all()} == {SyncRun.Outcome.SKIPPED}
    finally:
        tasks.sync_account.pop_request()


# --- the demo ----------------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid):
    """Every live process under ``pid`` (from /proc), at any depth."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_whole_demo_within_ten_seconds_while_a_sync_runs(tmp_path, migrated_sqlite):
    env, query = embedded(tmp_path, migrated_sqlite)  # the demo's own migrate finds nothing to do
    env.update(PORT=str(free_port()), FAKECLOUD_PORT=str(free_port()), FAKECLOUD_JOBS="3000")
    log = open(tmp_path / "demo.log", "w")
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    procs = []
    try:
        deadline = time.monotonic() + 180
        while not procs:
            assert demo.poll() is None and time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            try:
                if query("SELECT id FROM jobs_syncrun WHERE outcome = 'running'"):
                    procs = descendants(demo.pid)
            except sqlite3.OperationalError:  # locked by a writer
                pass
            time.sleep(0.2)
        assert len(procs) >= 8  # fakecloud, gunicorn and 2 workers, celery worker and 2 in its pool, beat

        os.killpg(demo.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        stopped_by = time.monotonic() + 10
        while time.monotonic() < stopped_by and any(running(pid) for pid in procs + [demo.pid]):
            time.sleep(0.1)
        left = [pid for pid in procs + [demo.pid] if running(pid)]
        assert left == [], (tmp_path / "demo.log").read_text()
    finally:
        for pid in procs + [demo.pid]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        demo.wait()
        log.close()

    (check,) = query("PRAGMA integrity_check")[0]
    assert check == "ok"
    # The sync cut short left its task in the broker for the next start.
    broker = tmp_path / "data" / "broker"
    held = [p.read_text() for folder in ("queue", "unacked") for p in (broker / folder).glob("*.msg")]
    assert any("jobs.sync_account" in text for text in held)
