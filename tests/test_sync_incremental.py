"""The incremental refresh (jobs.sync.incremental) and the choice of refresh (runs.refresh_mode),
against the in-memory provider. A model-based test over fakecloud: tests/test_sync_model.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import sync
from jobs.models import Job, JobEvent, SyncRun
from jobs.providers.base import EventRecord, ResponseError, TransportError
from jobs.status import moving_states, unsettled_states, waiting_states
from tests.fixtures_sync import SlowStub, StubProvider, make_record

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

AV = "avatar_training"
DONE, TRAINING = "JOB_SUCCESS", "TRAINING"


@pytest.fixture
def account(huawei_account):
    huawei_account.full_sync_interval = 6 * 3600
    huawei_account.save(update_fields=["full_sync_interval"])
    return huawei_account


def vendor(n_settled=30, n_active=3, page_size=10):
    """A vendor list, oldest first: settled jobs, then a few still training."""
    records = [make_record(AV, i, state=DONE) for i in range(1, n_settled + 1)]
    records += [make_record(AV, i, state=TRAINING) for i in range(n_settled + 1, n_settled + n_active + 1)]
    return StubProvider(records, page_size=page_size)


def refresh(account, p, **kw):
    run = sync.sync_account_kind(account, AV, provider=p, **kw)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, sync.run_reason(run)
    return run


def test_the_first_sync_is_full_and_the_next_ones_incremental_until_the_interval_passes(account):
    p = vendor()

    assert refresh(account, p).mode == "full"
    assert refresh(account, p).mode == "incremental"
    assert refresh(account, p, full=True).mode == "full"

    SyncRun.objects.filter(mode="full").update(started_at=timezone.now() - timedelta(hours=7))
    assert refresh(account, p).mode == "full"


def test_jobs_waiting_on_a_person_are_listed_every_waiting_interval(account, settings):
    settings.SYNC_WAITING_INTERVAL = 1800
    p = vendor()
    assert refresh(account, p).mode == "full"  # a full listing lists them too
    assert refresh(account, p).mode == "incremental"

    SyncRun.objects.update(started_at=timezone.now() - timedelta(minutes=31))
    assert refresh(account, p).mode == "waiting"
    assert refresh(account, p).mode == "incremental"

    settings.SYNC_WAITING_INTERVAL = 0
    assert refresh(account, p).mode == "waiting"


def test_a_failed_full_listing_does_not_count_as_one(account):
    p = vendor()
    p.fail_on_page = (AV, 2, TransportError("down", code="APIGW.0203", status=503))
    run = sync.sync_account_kind(account, AV, provider=p)
    assert (run.mode, run.outcome, run.listing_complete) == ("full", "partial", False)

    assert sync.runs.refresh_mode(account, AV) == "full"
    assert sync.runs.refresh_mode(account, "voice_assessment") == "tracked"


def test_a_full_listing_counts_when_only_its_detail_phase_was_cut_short(account):
    p = vendor()
    p.fail_detail = {"av-00001": TransportError("throttled", code="APIGW.0308", status=429)}
    run = sync.sync_account_kind(account, AV, provider=p)
    assert (run.mode, run.outcome, run.listing_complete) == ("full", "partial", True)

    p.fail_detail.clear()
    assert refresh(account, p).mode == "incremental"  # not another full listing


def test_an_incremental_refresh_lists_the_moving_states_and_one_head_page(account):
    p = vendor(n_settled=30, n_active=3, page_size=10)
    refresh(account, p)
    p.calls.clear()
    p.listings.clear()

    run = refresh(account, p)

    assert [(states is not None, newest, ahead) for _, states, newest, ahead in p.listings] == [
        (True, False, True),  # the jobs the vendor moves
        (False, True, False),  # the head, newest first, without fetching ahead
    ]
    assert p.listings[0][1] == moving_states(AV)
    assert p.calls["list"] == 2  # one page of 3 unsettled jobs, one head page of known jobs
    assert (run.created, run.updated, run.unchanged) == (0, 0, 3 + 10 - 3)
    assert p.calls["get_job"] + p.calls["get_jobs"] == 0  # nothing left the unsettled set


def test_a_job_that_settled_is_read_once_by_id_with_its_final_state(account):
    # An old job, far below the head page: only its read by id can tell it settled.
    records = [make_record(AV, 1, state=TRAINING)] + [make_record(AV, i, state=DONE) for i in range(2, 31)]
    p = StubProvider(records, page_size=10)
    refresh(account, p)
    p.replace(AV, "av-00001", state="TRAIN_FAILED", error_message="exit 137")

    run = refresh(account, p)

    job = Job.objects.get(remote_id="av-00001")
    assert (job.state, job.status, job.error_message) == ("TRAIN_FAILED", "failed", "exit 137")
    assert p.reads == [["av-00001"]]
    assert run.updated == 1
    assert job.events.filter(source=JobEvent.Source.OBSERVED, to_state="TRAIN_FAILED").count() == 1

    refresh(account, p)
    assert p.reads == [["av-00001"]]  # settled now: not read again


def test_new_jobs_are_found_at_the_head_even_when_they_settled_before_we_saw_them(account):
    p = vendor(n_settled=30, n_active=3, page_size=10)
    refresh(account, p)
    for i in range(34, 46):  # 12 new jobs: more than one head page
        p.add(make_record(AV, i, state=DONE if i % 2 else TRAINING))

    p.calls.clear()

    run = refresh(account, p)

    assert Job.objects.filter(kind=AV).count() == 45
    assert run.created == 12
    # 1 page of the 9 unsettled jobs; the head: 10 new, 2 new + 8 known, then a page of known
    # jobs only, where it stops
    assert p.calls["list"] == 1 + 3


def test_only_a_full_listing_marks_a_vanished_job_gone(account):
    p = vendor()
    refresh(account, p)
    p.remove(AV, "av-00002")  # settled, gone from the vendor
    p.remove(AV, "av-00032")  # unsettled, gone from the vendor

    run = refresh(account, p)

    assert run.marked_gone == 0
    assert not Job.objects.filter(gone=True).exists()
    assert refresh(account, p, full=True).marked_gone == 2
    assert set(Job.objects.filter(gone=True).values_list("remote_id", flat=True)) == {"av-00002", "av-00032"}


def test_an_unchanged_vendor_costs_a_small_share_of_a_full_listing(account):
    p = vendor(n_settled=970, n_active=30, page_size=100)
    refresh(account, p)
    p.calls.clear()

    refresh(account, p)

    assert p.calls["list"] == 2  # 1 page of unsettled jobs + 1 head page, against 10 for a full listing


def test_a_waiting_refresh_lists_every_unsettled_state(account):
    p = vendor()
    refresh(account, p)
    p.listings.clear()

    refresh(account, p, mode="waiting")

    assert p.listings[0][1] == sorted(moving_states(AV) + waiting_states(AV)) == unsettled_states(AV)
    assert not set(moving_states(AV)) & set(waiting_states(AV))
    assert {"WAIT_FILE_UPLOAD", "WAIT_USER_CONFIRM", "JOB_PENDING", "MANUAL_STOP_TRAIN"} <= set(waiting_states(AV))
    assert {"TRAINING", "AUTO_VERIFYING", "WAIT_COMPILE"} <= set(moving_states(AV))


def test_a_job_waiting_on_a_person_is_seen_when_it_moves_or_at_the_next_waiting_refresh(account):
    # Two old jobs, far below the head page of the newest ones.
    records = [make_record(AV, 1, state="WAIT_FILE_UPLOAD"), make_record(AV, 2, state="WAIT_USER_CONFIRM")]
    records += [make_record(AV, i, state=DONE) for i in range(3, 33)]
    p = StubProvider(records, page_size=10)
    refresh(account, p)

    # Uploaded: the job moves into a state the vendor moves, which every refresh lists.
    p.replace(AV, "av-00001", state="AUTO_VERIFYING")
    # Rejected by the user: straight to a settled state, which an incremental refresh does not list.
    p.replace(AV, "av-00002", state="JOB_REJECT")
    refresh(account, p)

    states = dict(Job.objects.values_list("remote_id", "state"))
    assert states["av-00001"] == "AUTO_VERIFYING"
    assert states["av-00002"] == "WAIT_USER_CONFIRM"  # not yet
    assert p.reads == []  # a waiting job is not read by id between waiting refreshes

    refresh(account, p, mode="waiting")

    assert Job.objects.get(remote_id="av-00002").state == "JOB_REJECT"
    assert p.reads == [["av-00002"]]


def settled_since_a_refresh(account, n, provider=StubProvider):
    """A vendor whose ``n`` oldest jobs (below the head page) settled since a refresh."""
    records = [make_record(AV, i, state=TRAINING) for i in range(1, n + 1)]
    records += [make_record(AV, i, state=DONE) for i in range(n + 1, n + 11)]  # the head page
    p = provider(records, page_size=10)
    refresh(account, p)
    for i in range(1, n + 1):
        p.replace(AV, f"av-{i:05d}", state=DONE)
    return p


def test_jobs_read_by_id_are_read_concurrently_within_the_detail_concurrency(account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 3
    p = settled_since_a_refresh(account, 20, SlowStub)

    run = refresh(account, p)

    assert sorted(ids[0] for ids in p.reads) == [f"av-{i:05d}" for i in range(1, 21)]  # each once
    assert p.most_in_flight == 3
    assert run.updated == 20
    assert set(Job.objects.values_list("state", flat=True)) == {DONE}


def test_a_failed_read_by_id_stops_the_reads_and_keeps_what_was_read(account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 1
    p = settled_since_a_refresh(account, 5)
    original = p.get_jobs

    def third_fails(kind, ids):
        if len(p.reads) == 2:
            p.reads.append(ids)
            raise TransportError("throttled", code="APIGW.0308", status=429)
        return original(kind, ids)

    p.get_jobs = third_fails

    run = sync.sync_account_kind(account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert len(p.reads) == 3  # no read after the failed one
    read = Job.objects.filter(remote_id__in=[f"av-{i:05d}" for i in range(1, 6)], state=DONE)
    assert sorted(read.values_list("remote_id", flat=True)) == ["av-00001", "av-00002"]


class ShowIsDetail(StubProvider):
    """Like MetaStudio's avatar jobs: the detail read also reads the job's current state."""

    def show_is_detail(self, kind):
        return True

    def fetch_detail(self, record):
        current = self.tracked[(record.kind, record.remote_id)]
        return super().fetch_detail(current)


def test_where_the_detail_read_holds_the_state_a_settled_job_costs_one_call(account):
    records = [make_record(AV, 1, state=TRAINING)] + [make_record(AV, i, state=DONE) for i in range(2, 31)]
    p = ShowIsDetail(records, page_size=10)
    refresh(account, p)
    Job.objects.update(needs_detail=False)
    p.replace(AV, "av-00001", state=DONE)
    p.events["av-00001"] = [EventRecord(occurred_at=timezone.now(), source="oplog", action="SYSTEM_TRAIN_SUCCESS")]
    p.calls.clear()

    run = refresh(account, p)

    job = Job.objects.get(remote_id="av-00001")
    assert (job.state, job.needs_detail) == (DONE, False)
    assert p.calls["detail"] == 1 and p.calls["get_jobs"] == 0  # one read: state and op-logs
    assert run.details_fetched == 1
    assert job.events.filter(action="SYSTEM_TRAIN_SUCCESS").count() == 1


def test_one_job_that_cannot_be_read_does_not_block_the_others_or_the_details(account, settings):
    settings.SYNC_DETAIL_CONCURRENCY = 1
    p = settled_since_a_refresh(account, 3)
    Job.objects.filter(remote_id="av-00013").update(needs_detail=True)  # a detail waiting
    original = p.get_jobs

    def malformed_first(kind, ids):
        if ids == ["av-00001"]:
            p.reads.append(ids)
            raise ResponseError("the vendor answered a job without a state")
        return original(kind, ids)

    p.get_jobs = malformed_first

    run = sync.sync_account_kind(account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL and "without a state" in run.error_message
    states = dict(Job.objects.values_list("remote_id", "state"))
    assert (states["av-00001"], states["av-00002"], states["av-00003"]) == (TRAINING, DONE, DONE)
    assert run.details_fetched >= 1 and not Job.objects.get(remote_id="av-00013").needs_detail
    assert run.listing_complete


def test_a_job_the_vendor_no_longer_has_goes_to_the_back_of_the_reads(account, settings):
    p = settled_since_a_refresh(account, 2)
    p.tracked.pop((AV, "av-00001"))  # deleted at the vendor: read by id, not found
    before = Job.objects.get(remote_id="av-00001").synced_at

    refresh(account, p)

    job = Job.objects.get(remote_id="av-00001")
    assert job.synced_at > before and not job.gone  # only a full listing marks it gone
    assert Job.objects.get(remote_id="av-00002").state == DONE


def test_the_head_stops_at_known_jobs_when_there_are_too_many_to_hold(account, monkeypatch):
    monkeypatch.setattr(sync.kind, "KNOWN_FINGERPRINTS_MAX", 0)
    p = vendor(n_settled=30, n_active=3, page_size=10)
    refresh(account, p)
    for i in range(34, 46):  # 12 new jobs: more than one head page
        p.add(make_record(AV, i, state=DONE))
    p.calls.clear()

    run = refresh(account, p)

    assert run.created == 12
    assert p.calls["list"] == 1 + 3  # the moving jobs; the head: 10 new, 2 new + 8 known, 10 known


def test_reads_by_id_that_are_detail_reads_count_against_the_detail_budget(account, settings):
    settings.SYNC_DETAIL_BUDGET = 4
    records = [make_record(AV, i, state=TRAINING) for i in range(1, 4)]
    records += [make_record(AV, i, state=DONE) for i in range(4, 14)]
    p = ShowIsDetail(records, page_size=10)
    refresh(account, p)
    Job.objects.update(needs_detail=False)
    Job.objects.filter(remote_id__in=["av-00012", "av-00013"]).update(needs_detail=True)
    for i in range(1, 4):
        p.replace(AV, f"av-{i:05d}", state=DONE)
    p.calls.clear()

    run = refresh(account, p)

    assert p.calls["detail"] == 4  # 3 reads by id (each its detail) + 1 of the 2 waiting details
    assert run.details_fetched == 4
