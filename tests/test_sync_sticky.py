"""What a detail read filled in (a linked job, an error code…) stays when a later listing of the
job lacks it, although the detail read that would fill it in again fails.

In each test the second detail read fails, so the job's row after it is exactly what the
listing (or read by id) wrote: a rule that held only because the detail refilled the columns
cannot pass here."""

import dataclasses
from datetime import timedelta

import pytest

from jobs import sync
from jobs.models import Job, SyncRun
from jobs.providers.base import EventRecord
from jobs.sync import rows
from tests.fixtures_sync import T0, StubProvider, make_record, transport_error

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

AV, VT = "avatar_training", "voice_training"

# What the vendor's detail adds to the listed job (sticky columns; see jobs.sync.rows.COLUMNS).
FROM_DETAIL = {
    "linked_job_id": "av-00042",
    "error_code": "MSS.00300005",
    "error_message": "the recording is too short",
    "asset_id": "asset-7",
    "language": "CN",
    "edition": "ADVANCE",
    "started_at": T0 + timedelta(minutes=5),
    "finished_at": T0 + timedelta(hours=2),
}


def listed(kind, state):
    """The listed job: none of the detail's columns."""
    blank = {name: "" for name in FROM_DETAIL if name not in ("started_at", "finished_at")}
    return make_record(kind, 1, state=state, **blank)


def cached(remote_id):
    job = Job.objects.get(remote_id=remote_id)
    return {name: getattr(job, name) for name in FROM_DETAIL}


def detail_filled_in(account, kind):
    p = StubProvider([listed(kind, "AUDITING" if kind == VT else "MANUAL_VERIFYING")], page_size=10)
    p.detail_extra["vo-00001" if kind == VT else "av-00001"] = dict(FROM_DETAIL)
    p.events["vo-00001" if kind == VT else "av-00001"] = [EventRecord(occurred_at=T0, source="oplog", action="X")]
    run = sync.sync_account_kind(account, kind, provider=p)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.details_fetched == 1
    return p


@pytest.mark.parametrize("kind", [VT, AV])
def test_a_changed_listing_keeps_what_the_detail_filled_in_when_the_next_detail_read_fails(huawei_account, kind):
    p = detail_filled_in(huawei_account, kind)
    rid = "vo-00001" if kind == VT else "av-00001"
    assert cached(rid) == FROM_DETAIL

    p.replace(kind, rid, state="FAILED" if kind == VT else "TRAIN_FAILED", name="renamed")
    p.fail_detail[rid] = transport_error()
    run = sync.sync_account_kind(huawei_account, kind, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL and run.details_fetched == 0
    assert p.detail_calls == [rid, rid]  # the second read was made, and failed
    job = Job.objects.get(remote_id=rid)
    assert (job.name, job.status, job.needs_detail) == ("renamed", "failed", True)  # the listing wrote it
    assert cached(rid) == FROM_DETAIL


def test_a_listing_with_values_of_its_own_still_replaces_them(huawei_account):
    p = detail_filled_in(huawei_account, VT)

    p.replace(VT, "vo-00001", state="FAILED", linked_job_id="av-00043", error_code="MSS.00300006")
    p.fail_detail["vo-00001"] = transport_error()
    sync.sync_account_kind(huawei_account, VT, provider=p)

    assert cached("vo-00001") == {**FROM_DETAIL, "linked_job_id": "av-00043", "error_code": "MSS.00300006"}


def test_a_refresh_whose_detail_read_fails_keeps_what_the_detail_filled_in(huawei_account):
    p = detail_filled_in(huawei_account, VT)
    p.replace(VT, "vo-00001", state="FAILED")
    p.fail_detail["vo-00001"] = transport_error()

    run = sync.refresh_job(Job.objects.get(remote_id="vo-00001"), provider=p)

    assert run.outcome == SyncRun.Outcome.FAILED and p.calls["get_job"] == 1
    assert Job.objects.get(remote_id="vo-00001").state == "FAILED"  # the read by id was stored
    assert cached("vo-00001") == FROM_DETAIL


def test_an_incremental_refresh_keeps_what_the_detail_filled_in_when_the_next_detail_read_fails(huawei_account):
    p = detail_filled_in(huawei_account, VT)
    huawei_account.full_sync_interval = 86400
    huawei_account.save()
    p.replace(VT, "vo-00001", state="PROCESSING")
    p.fail_detail["vo-00001"] = transport_error()

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.mode == SyncRun.Mode.INCREMENTAL and run.outcome == SyncRun.Outcome.PARTIAL
    assert Job.objects.get(remote_id="vo-00001").state == "PROCESSING"
    # Kept, but for what the move to a running state makes wrong (a failure reason, a finish).
    outcome = ("error_code", "error_message", "finished_at")
    assert {k: v for k, v in cached("vo-00001").items() if k not in outcome} == {
        k: v for k, v in FROM_DETAIL.items() if k not in outcome
    }


def test_the_detail_columns_here_are_the_sticky_ones():
    # If a column joins or leaves the sticky set, the tests above must say what it does.
    assert set(rows.STICKY_FIELDS) == set(FROM_DETAIL)
    assert {f.name for f in dataclasses.fields(make_record())} >= set(FROM_DETAIL)


@pytest.mark.parametrize(
    ("state", "status", "stale"),
    [
        ("TRAINING", "running", ("error_code", "error_message", "finished_at")),  # retried at the vendor
        ("JOB_SUCCESS", "succeeded", ("error_code", "error_message")),
    ],
)
def test_a_job_that_is_no_longer_failed_keeps_no_old_failure(huawei_account, state, status, stale):
    p = detail_filled_in(huawei_account, AV)

    p.replace(AV, "av-00001", state=state)
    p.fail_detail["av-00001"] = transport_error()
    sync.sync_account_kind(huawei_account, AV, provider=p)

    job = Job.objects.get(remote_id="av-00001")
    assert job.status == status and job.failure_group == ""
    kept = cached("av-00001")
    assert {name: kept[name] for name in stale} == {name: None if name == "finished_at" else "" for name in stale}
    assert {k: v for k, v in kept.items() if k not in stale} == {k: v for k, v in FROM_DETAIL.items() if k not in stale}
