"""jobs.sync.details: which jobs get a detail read (by need, none starved) and reads in flight."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import sync
from jobs.models import Job, SyncRun
from jobs.providers.base import TransportError
from jobs.sync.details import detail_queue
from jobs.sync.kind import KindSync
from tests.fixtures_sync import SlowStub, StubProvider, make_record

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

VT = "voice_training"


def waiting_jobs(account, states):
    """Jobs flagged for a detail read, the first one flagged longest ago."""
    now = timezone.now()
    for i, state in enumerate(states, start=1):
        Job.objects.create(
            account=account,
            kind=VT,
            remote_id=f"vo-{i:05d}",
            state=state,
            status="running" if state == "PROCESSING" else "succeeded",
            created_at=now,
            updated_at=now,
            synced_at=now - timedelta(minutes=100 - i),
            needs_detail=True,
        )


def queue_ids(account, budget):
    run = SyncRun.objects.create(account=account, kind=VT)
    return [job.remote_id for job in detail_queue(KindSync(account, VT, StubProvider([]), run), budget)]


def test_in_progress_jobs_come_first_each_oldest_wait_first(huawei_account):
    waiting_jobs(huawei_account, ["SUCCEED", "PROCESSING", "SUCCEED", "PROCESSING"])

    assert queue_ids(huawei_account, 3) == ["vo-00002", "vo-00004", "vo-00001"]


def test_a_quarter_of_the_budget_goes_to_the_longest_waiting_whatever_their_status(huawei_account):
    waiting_jobs(huawei_account, ["SUCCEED"] + ["PROCESSING"] * 10)  # a standing in-progress backlog

    ids = queue_ids(huawei_account, 4)

    assert ids == ["vo-00002", "vo-00003", "vo-00004", "vo-00001"]  # the settled job is not starved


def test_detail_reads_run_concurrently_and_are_all_stored(huawei_account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 4
    p = SlowStub([make_record(VT, i, state="PROCESSING") for i in range(1, 13)])

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.details_fetched == 12
    assert p.most_in_flight > 1
    assert not Job.objects.filter(needs_detail=True).exists()


def test_a_throttled_read_stops_the_reads_not_yet_started(huawei_account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 2
    p = StubProvider([make_record(VT, i, state="PROCESSING") for i in range(1, 41)])
    p.fail_detail["vo-00005"] = TransportError("throttled", code="APIGW.0308", status=429)

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert len(p.detail_calls) <= 5 + 2  # at most the reads already in flight went on
    assert Job.objects.filter(needs_detail=False).count() == run.details_fetched
