"""The account lease (jobs.sync.lease): kept alive by a heartbeat, fenced by a token, released
by an operator, and what is left of a sync that died under it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs import sync
from jobs.models import CloudAccount, Job, SyncRun
from jobs.sync.kind import KindSync
from jobs.sync.lease import LeaseKeeper, LeaseLost, claim_lease, force_release
from tests.fixtures_sync import SlowStub, StubProvider, make_record

AV = "avatar_training"


def _in_thread(target):
    """Run target() on a thread with its own database connection; returns (thread, result)."""
    result = {}

    def body():
        try:
            result["value"] = target()
        except BaseException as exc:  # surfaced by the test
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, result


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class GatedStub(StubProvider):
    """Each detail read waits until the test opens the gate (``entered`` is set meanwhile)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entered, self.gate = threading.Event(), threading.Event()

    def fetch_detail(self, record):
        self.entered.set()
        assert self.gate.wait(30)
        return super().fetch_detail(record)


@pytest.mark.django_db(transaction=True)
def test_a_sync_keeps_its_lease_by_heartbeat_while_one_call_outlasts_the_ttl(huawei_account, settings):
    # The finding: with a 6 s lease and 1 s detail reads, the lease lapsed mid-sync and a second
    # sync of the same account ran at once. Here one detail read lasts several TTLs.
    settings.SYNC_LEASE_SECONDS = 1
    settings.SYNC_DETAIL_CONCURRENCY = 1
    slow = GatedStub([make_record(AV, i) for i in range(1, 4)])
    thread, result = _in_thread(lambda: sync.sync_account_kind(huawei_account, AV, provider=slow))
    assert slow.entered.wait(20)
    time.sleep(3.5)  # three and a half TTLs inside one vendor call: only a heartbeat keeps the lease

    second = StubProvider([make_record(AV, i) for i in range(1, 4)])
    run = sync.sync_account_kind(CloudAccount.objects.get(pk=huawei_account.pk), AV, provider=second)

    slow.gate.set()
    thread.join(30)
    assert run.outcome == SyncRun.Outcome.SKIPPED and second.api_calls == 0
    assert result["value"].outcome == SyncRun.Outcome.SUCCEEDED, result
    assert SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING).count() == 0
    account = CloudAccount.objects.get(pk=huawei_account.pk)
    assert account.lease_owner == "" and account.lease_until is None


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_loses_its_lease_stops_before_its_next_write(huawei_account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 1
    records = [make_record(AV, i) for i in range(1, 4)]
    slow = GatedStub(records)
    thread, result = _in_thread(lambda: sync.sync_account_kind(huawei_account, AV, provider=slow))
    assert slow.entered.wait(20)  # listed and stored; now inside the first detail read
    assert Job.objects.filter(needs_detail=True).count() == 3

    owner, closed = force_release(huawei_account.pk)  # an operator releases it (or it lapsed)
    assert owner and closed == 1
    taker = claim_lease(huawei_account.pk, "another-sync")  # and another sync takes the account
    assert taker is not None
    slow.gate.set()
    thread.join(30)

    run = result["value"]
    assert run.outcome == SyncRun.Outcome.PARTIAL and run.error_code == "lease_lost"
    assert "lost the account's lease" in run.error_message
    # The details read after the lease went (the rest of that group) were not stored.
    assert Job.objects.filter(needs_detail=True).count() == 3
    assert run.details_fetched == 0
    account = CloudAccount.objects.get(pk=huawei_account.pk)
    assert account.lease_owner == "another-sync" and account.lease_token == taker.token  # not released by the loser
    assert account.last_sync_at is None  # the account's status is the new owner's to write


@pytest.mark.django_db(transaction=True)
def test_a_write_under_a_lease_another_owner_holds_is_refused(huawei_account):
    lease = claim_lease(huawei_account.pk, "first", ttl=60)
    # It lapses; another sync claims the account before the first one writes again.
    CloudAccount.objects.filter(pk=huawei_account.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = claim_lease(huawei_account.pk, "second")
    assert second is not None and second.token == lease.token + 1
    run = SyncRun.objects.create(account=huawei_account, kind=AV)
    ks = KindSync(huawei_account, AV, StubProvider(), run, lease=lease)

    with pytest.raises(LeaseLost):
        ks.store_records([make_record(AV, 1)])
    with pytest.raises(LeaseLost):  # and once lost, it stays lost without asking the database
        ks.progress(force=True)

    assert not Job.objects.exists()
    holder = KindSync(huawei_account, AV, StubProvider(), run, lease=second)
    holder.store_records([make_record(AV, 2)])  # the current holder writes
    assert list(Job.objects.values_list("remote_id", flat=True)) == ["av-00002"]


@pytest.mark.django_db(transaction=True)
def test_the_fence_checks_the_token_not_only_the_owner_name(huawei_account):
    lease = claim_lease(huawei_account.pk, "same-name", ttl=60)
    force_release(huawei_account.pk)
    again = claim_lease(huawei_account.pk, "same-name", ttl=60)
    assert again.token == lease.token + 2
    run = SyncRun.objects.create(account=huawei_account, kind=AV)

    with pytest.raises(LeaseLost):
        KindSync(huawei_account, AV, StubProvider(), run, lease=lease).store_records([make_record(AV, 1)])
    KindSync(huawei_account, AV, StubProvider(), run, lease=again).store_records([make_record(AV, 1)])
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lease_not_renewed_within_its_ttl_counts_as_lost_without_a_query(huawei_account):
    lease = claim_lease(huawei_account.pk, "me", ttl=1)
    lease.check()
    lease.valid_until = time.monotonic() - 0.01  # the heartbeat could not reach the database
    with pytest.raises(LeaseLost, match="not renewed in time"):
        lease.check()


@pytest.mark.django_db(transaction=True)
def test_the_keeper_renews_and_notices_a_release(huawei_account):
    lease = claim_lease(huawei_account.pk, "me", ttl=60)
    first_until = CloudAccount.objects.get(pk=huawei_account.pk).lease_until
    with LeaseKeeper(lease, interval=0.05):
        assert _wait_for(lambda: CloudAccount.objects.get(pk=huawei_account.pk).lease_until > first_until)
        force_release(huawei_account.pk)
        assert _wait_for(lease.lost.is_set)
    with pytest.raises(LeaseLost):
        lease.check()


@pytest.mark.django_db(transaction=True)
def test_the_next_sync_closes_a_run_its_dead_predecessor_left_running(huawei_account):
    # kill -9 mid-sync: its run stays RUNNING and its lease lapses (no heartbeat any more).
    dead = SyncRun.objects.create(account=huawei_account, kind=AV, outcome=SyncRun.Outcome.RUNNING)
    CloudAccount.objects.filter(pk=huawei_account.pk).update(
        lease_owner="killed", lease_until=timezone.now() - timedelta(seconds=1)
    )

    run = sync.sync_account_kind(huawei_account, AV, provider=StubProvider([make_record(AV, 1)]))

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    dead.refresh_from_db()
    assert dead.outcome == SyncRun.Outcome.FAILED and dead.error_code == "abandoned" and dead.finished_at


@pytest.mark.django_db(transaction=True)
def test_a_refresh_of_one_job_is_fenced_too(huawei_account):
    rec = make_record(AV, 1)
    sync.sync_account_kind(huawei_account, AV, provider=StubProvider([rec]))
    job = Job.objects.get()
    detail_before = job.detail_synced_at
    stub = GatedStub([make_record(AV, 1, name="renamed")])
    thread, result = _in_thread(
        lambda: sync.refresh_job(Job.objects.select_related("account").get(pk=job.pk), provider=stub)
    )
    assert stub.entered.wait(20)
    force_release(huawei_account.pk)
    stub.gate.set()
    thread.join(30)
    assert result["value"].error_code == "lease_lost"
    assert Job.objects.get().detail_synced_at == detail_before  # the detail read after it was not stored


def test_dispatcher_closes_running_runs_of_an_account_nobody_holds(huawei_account, settings):
    settings.SYNC_LEASE_SECONDS = 60
    now = timezone.now()
    old = now - timedelta(seconds=120)
    dead = SyncRun.objects.create(account=huawei_account, kind=AV, outcome=SyncRun.Outcome.RUNNING)
    young = SyncRun.objects.create(account=huawei_account, kind="voice_training", outcome=SyncRun.Outcome.RUNNING)
    SyncRun.objects.filter(pk=dead.pk).update(started_at=old)
    SyncRun.objects.filter(pk=young.pk).update(started_at=now)

    assert sync.expire_abandoned_runs(now) == 1  # lease free, started a lease ago: its process died
    dead.refresh_from_db()
    young.refresh_from_db()
    assert dead.outcome == SyncRun.Outcome.FAILED and young.outcome == SyncRun.Outcome.RUNNING

    held = SyncRun.objects.create(account=huawei_account, kind=AV, outcome=SyncRun.Outcome.RUNNING)
    SyncRun.objects.filter(pk=held.pk).update(started_at=old)
    claim_lease(huawei_account.pk, "alive")  # a live sync renews its lease: its run is left alone
    assert sync.expire_abandoned_runs(now) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_reads_stop_when_the_lease_goes(huawei_account, settings):
    # Reads by id in flight (SYNC_DETAIL_CONCURRENCY): after the lease goes none is stored.
    settings.SYNC_DETAIL_CONCURRENCY = 4
    slow = SlowStub([make_record(AV, i) for i in range(1, 41)], delay=0.2)
    thread, result = _in_thread(lambda: sync.sync_account_kind(huawei_account, AV, provider=slow))
    assert _wait_for(lambda: slow.calls["detail"] >= 2)
    force_release(huawei_account.pk)
    claim_lease(huawei_account.pk, "next")
    fetched_before = Job.objects.filter(needs_detail=False).count()
    thread.join(60)
    assert result["value"].error_code == "lease_lost"
    assert Job.objects.filter(needs_detail=False).count() == fetched_before
    assert slow.calls["detail"] < 40
