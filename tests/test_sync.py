"""The sync service's own logic, against an in-memory provider (tests/fixtures_sync.StubProvider).

Over real HTTP against fakecloud: tests/test_sync_fakecloud.py.
"""

import dataclasses
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import sync
from jobs.models import Assessment, AssessmentMetric, CloudAccount, Job, JobEvent, SyncRun
from jobs.providers import huawei
from jobs.providers.base import AuthError, EventRecord, NotFoundError, Page, ResponseError
from jobs.sync import kind as sync_kind
from tests.fixtures_sync import T0, StubProvider, avatar_item, make_assessment, make_record, transport_error

pytestmark = [pytest.mark.django_db, pytest.mark.db_sensitive]

AV = "avatar_training"
VT = "voice_training"
VA = "voice_assessment"


def writes_to(table, queries):
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries if q["sql"].lstrip('"').startswith(verbs) and f'"{table}"' in q["sql"][:80]]


def upserts(queries):
    return [sql for sql in writes_to("jobs_job", queries) if sql.startswith("INSERT")]


def provider_with(n, kind=AV, page_size=3, **kw):
    return StubProvider([make_record(kind, i, **kw) for i in range(1, n + 1)], page_size=page_size)


def test_it_caches_every_job_once_with_its_values(huawei_account):
    p = provider_with(7)
    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert (run.pages, run.seen, run.created, run.updated, run.unchanged) == (3, 7, 7, 0, 0)
    assert run.remote_total == 7
    job = Job.objects.get(remote_id="av-00002")
    assert job.name == "job 2"
    assert job.state == "TRAINING" and job.status == "running"
    assert job.created_at == T0 + timedelta(minutes=2)
    assert job.tags == ["demo", "t0"] and job.tags_text == "|demo|t0|"
    assert job.payload == {"job_id": "av-00002", "state": "TRAINING", "n": 2}
    assert Job.objects.count() == 7


def test_it_writes_no_job_rows_when_nothing_changed(huawei_account):
    p = provider_with(7)
    sync.sync_account_kind(huawei_account, AV, provider=p)

    with CaptureQueriesContext(connection) as ctx:
        run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert (run.seen, run.created, run.updated, run.unchanged) == (7, 0, 0, 7)
    assert writes_to("jobs_job", ctx.captured_queries) == []
    assert writes_to("jobs_jobevent", ctx.captured_queries) == []


def test_it_records_a_state_change_once_as_an_event(huawei_account):
    p = provider_with(4)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    p.replace(AV, "av-00003", state="TRAIN_FAILED", updated_at=T0 + timedelta(hours=5))

    run = sync.sync_account_kind(huawei_account, AV, provider=p)
    again = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert (run.updated, run.unchanged, run.events_created) == (1, 3, 1)
    assert again.updated == 0 and again.events_created == 0
    event = JobEvent.objects.get(source="observed")
    assert (event.job.remote_id, event.from_state, event.to_state) == ("av-00003", "TRAINING", "TRAIN_FAILED")
    job = event.job
    assert job.status == "failed"
    assert p.detail_calls.count("av-00003") == 2  # new, then changed
    assert job.state_changed_at == event.occurred_at


def test_it_stores_duplicates_within_and_across_pages_once(huawei_account):
    records = [make_record(AV, i) for i in (1, 2, 2, 3, 1, 4)]
    p = StubProvider(records, page_size=3)

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert run.seen == 4 and run.created == 4
    assert sorted(Job.objects.values_list("remote_id", flat=True)) == ["av-00001", "av-00002", "av-00003", "av-00004"]


@pytest.mark.parametrize("known_max", [1000, 0], ids=["fingerprints-read-first", "looked-up-per-page"])
def test_it_marks_jobs_missing_from_a_complete_listing_as_gone_and_back(huawei_account, monkeypatch, known_max):
    monkeypatch.setattr(sync_kind, "KNOWN_FINGERPRINTS_MAX", known_max)
    p = provider_with(5)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    gone_rec = p.tracked[(AV, "av-00002")]
    p.remove(AV, "av-00002")

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.marked_gone == 1
    assert Job.objects.get(remote_id="av-00002").gone
    assert Job.objects.filter(gone=False).count() == 4

    p.add(gone_rec)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    assert not Job.objects.get(remote_id="av-00002").gone


def test_it_ends_partial_and_keeps_the_cache_when_a_later_page_fails(huawei_account):
    p = provider_with(7)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    before = list(Job.objects.order_by("id").values())
    p.remove(AV, "av-00007")  # would be marked gone by a complete listing
    p.replace(AV, "av-00001", state="TRAIN_SUCCESS")
    p.fail_on_page = (AV, 1, transport_error())

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert (run.error_code, run.request_id) == ("APIGW.0308", "rid-503")
    assert "service unavailable" in run.error_message
    assert run.marked_gone == 0 and not Job.objects.filter(gone=True).exists()
    after = {j["remote_id"]: j for j in Job.objects.values()}
    assert after["av-00001"]["state"] == "TRAIN_SUCCESS"  # page 0 was stored
    for row in before[3:]:
        assert after[row["remote_id"]] == row  # the rest untouched
    huawei_account.refresh_from_db()
    assert "APIGW.0308" in huawei_account.last_error and "rid-503" in huawei_account.last_error

    p.fail_on_page = None
    clean = sync.sync_account_kind(huawei_account, AV, provider=p)
    assert clean.outcome == SyncRun.Outcome.SUCCEEDED and clean.marked_gone == 1


def test_it_writes_several_pages_in_one_transaction_up_to_the_batch_size(huawei_account, monkeypatch):
    monkeypatch.setattr(sync_kind, "WRITE_BATCH_ROWS", 5)
    p = provider_with(8)  # pages of 3, 3, 2

    with CaptureQueriesContext(connection) as ctx:
        run = sync.sync_account_kind(huawei_account, AV, provider=p)

    # Pages 1+2 (6 rows, over the batch size) in one statement, page 3 at the end.
    assert len(upserts(ctx.captured_queries)) == 2
    assert (run.pages, run.created) == (3, 8)
    assert Job.objects.count() == 8


def test_it_writes_a_batch_that_waited_too_long_even_when_small(huawei_account, monkeypatch):
    monkeypatch.setattr(sync_kind, "WRITE_BATCH_SECONDS", 0)
    p = provider_with(8)

    with CaptureQueriesContext(connection) as ctx:
        run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert len(upserts(ctx.captured_queries)) == 3  # one per page
    assert run.created == 8


def test_it_stores_the_pages_read_before_a_failure_that_were_still_waiting_in_a_batch(huawei_account):
    p = provider_with(9)
    p.fail_on_page = (AV, 2, transport_error())  # pages 0 and 1 are read, then the vendor fails

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert (run.pages, run.created) == (2, 6)
    assert Job.objects.count() == 6


def test_a_first_sync_reads_the_cached_fingerprints_once_and_looks_up_no_page(huawei_account):
    Job.objects.create(
        account=huawei_account,
        kind=AV,
        remote_id="av-00002",
        name="old",
        state="TRAINING",
        created_at=T0,
        updated_at=T0,
        gone=True,
    )

    with CaptureQueriesContext(connection) as ctx:
        run = sync.sync_account_kind(huawei_account, AV, provider=provider_with(7))

    lookups = [q for q in ctx.captured_queries if q["sql"].startswith('SELECT "remote_id"')]
    assert len(lookups) == 2  # the fingerprints, then the one page holding a (gone) cached job
    assert (run.created, run.updated) == (6, 1)
    assert not Job.objects.get(remote_id="av-00002").gone


@pytest.mark.parametrize("preload", [True, False], ids=["fingerprints-read-first", "looked-up-per-page"])
def test_it_finds_changed_and_unchanged_jobs_with_or_without_reading_fingerprints_first(
    huawei_account, monkeypatch, preload
):
    monkeypatch.setattr(sync_kind, "KNOWN_FINGERPRINTS_MAX", 1000 if preload else 0)
    p = provider_with(7)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    p.replace(AV, "av-00002", name="renamed")
    p.replace(AV, "av-00006", state="TRAIN_FAILED")
    Job.objects.filter(remote_id="av-00004").update(gone=True)  # listed again: back from gone

    with CaptureQueriesContext(connection) as ctx:
        run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert (run.seen, run.created, run.updated, run.unchanged, run.events_created) == (7, 0, 3, 4, 1)
    assert Job.objects.get(remote_id="av-00002").name == "renamed"
    assert not Job.objects.filter(gone=True).exists()
    lookups = [q for q in ctx.captured_queries if q["sql"].startswith('SELECT "remote_id"')]
    # The read of every fingerprint (given up past the limit), then lookups of only the pages
    # with changes (pages 1 and 2 of 3), or, without the fingerprints, of every page.
    assert len(lookups) == 1 + (2 if preload else 3)


class ListedProvider(StubProvider):
    """Pages of MetaStudio avatar items as the real provider yields them (Listed, normalised
    on first use), counting how many jobs get normalised."""

    def __init__(self, pages):
        super().__init__()
        self.item_pages = pages
        self.normalised = 0

    def iter_pages(self, kind, **listing):
        total = sum(len(items) for items in self.item_pages)
        for index, items in enumerate(self.item_pages):
            self.api_calls += 1
            entries = [dataclasses.replace(huawei.listed_avatar(item), build=self._counted) for item in items]
            yield Page(total=total, next_cursor=index + 1 if index + 1 < len(self.item_pages) else None, listed=entries)

    def _counted(self, payload):
        self.normalised += 1
        return huawei.avatar_record(payload, stripped=True)


def test_it_normalises_a_listed_job_only_when_its_payload_changed(huawei_account):
    p = ListedProvider([[avatar_item(1), avatar_item(2)], [avatar_item(3)]])
    first = sync.sync_account_kind(huawei_account, AV, provider=p)
    assert (first.created, p.normalised) == (3, 3)
    assert Job.objects.get(remote_id="a1").payload.get("contact") is None  # PII never stored

    p.normalised = 0
    p.item_pages[1][0] = avatar_item(3, state="JOB_FINISH", contact="13900000000")
    p.item_pages[0][0] = avatar_item(1, contact="13911111111")  # only stripped PII changed
    again = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert (again.unchanged, again.updated, again.events_created, p.normalised) == (2, 1, 1, 1)
    assert Job.objects.get(remote_id="a3").state == "JOB_FINISH"


def test_it_ends_partial_when_a_new_listed_job_is_malformed_and_keeps_the_pages_before(huawei_account):
    p = ListedProvider([[avatar_item(1), avatar_item(2)], [avatar_item(3), avatar_item(4, create_time="yesterday")]])

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert "avatar job a4: create_time" in run.error_message and "yesterday" in run.error_message
    assert (run.pages, run.seen, run.created) == (1, 2, 2)
    assert sorted(Job.objects.values_list("remote_id", flat=True)) == ["a1", "a2"]  # not a3: its page failed


def test_it_marks_nothing_gone_when_the_pages_held_fewer_jobs_than_counted(huawei_account):
    p = provider_with(5)
    sync.sync_account_kind(huawei_account, AV, provider=p)
    p.remove(AV, "av-00002")
    p.hidden = 1

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL and run.error_code == "incomplete_listing"
    assert "counted 5" in run.error_message
    assert not Job.objects.filter(gone=True).exists()


def test_it_ends_failed_and_writes_nothing_when_the_first_page_fails(huawei_account):
    p = provider_with(4)
    p.fail_on_page = (AV, 0, ResponseError("malformed JSON body", code="malformed"))

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error_code == "malformed" and run.error_message == "malformed JSON body"
    assert Job.objects.count() == 0
    huawei_account.refresh_from_db()
    assert huawei_account.last_error and huawei_account.last_success_at is None


def test_it_fetches_details_and_stores_their_events_idempotently(huawei_account):
    p = provider_with(3, kind=VT, page_size=10)
    p.events["vo-00001"] = [
        EventRecord(occurred_at=T0, source="oplog", action="CREATE_JOB", operator="USER"),
        EventRecord(
            occurred_at=T0 + timedelta(hours=1),
            source="oplog",
            action="AUDIT_NOT_PASS",
            operator="ADMIN",
            message="noise",
            details={"admin_audit_failure_reason": "noise"},
        ),
    ]
    p.detail_extra["vo-00001"] = {"linked_job_id": "av-00009", "error_code": "E1"}

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.details_fetched == 3 and run.events_created == 2
    job = Job.objects.get(remote_id="vo-00001")
    assert job.linked_job_id == "av-00009" and job.error_code == "E1" and not job.needs_detail
    assert list(job.events.values_list("action", flat=True)) == ["CREATE_JOB", "AUDIT_NOT_PASS"]

    # A change triggers a new detail fetch; the same op-log entries are not stored again.
    p.replace(VT, "vo-00001", state="AUDIT_FAILED")
    run = sync.sync_account_kind(huawei_account, VT, provider=p)
    assert run.details_fetched == 1 and run.events_created == 1  # the observed change only
    assert job.events.count() == 3

    # The list record (without a linked id or error code) does not blank what the detail
    # filled in: the next detail read fails, so only the listing wrote the job.
    p.replace(VT, "vo-00001", state="FAILED")
    p.fail_detail["vo-00001"] = transport_error()
    run = sync.sync_account_kind(huawei_account, VT, provider=p)
    assert run.outcome == SyncRun.Outcome.PARTIAL and run.details_fetched == 0
    job.refresh_from_db()
    assert (job.state, job.needs_detail) == ("FAILED", True)  # the listing did write it
    assert (job.linked_job_id, job.error_code) == ("av-00009", "E1")


def test_it_keeps_to_the_detail_budget_in_progress_jobs_first(huawei_account, settings):
    settings.SYNC_DETAIL_BUDGET = 2
    records = [
        make_record(VT, 1, state="SUCCEED"),
        make_record(VT, 2, state="PROCESSING"),
        make_record(VT, 3, state="FAILED"),
        make_record(VT, 4, state="WAITING"),
    ]
    p = StubProvider(records)

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.details_fetched == 2
    assert sorted(p.detail_calls) == ["vo-00002", "vo-00004"]
    assert Job.objects.filter(needs_detail=True).count() == 2
    sync.sync_account_kind(huawei_account, VT, provider=p)
    assert not Job.objects.filter(needs_detail=True).exists()


def test_it_ends_partial_when_a_detail_fetch_fails_and_retries_it_later(huawei_account):
    p = provider_with(3, kind=VT)
    p.fail_detail["vo-00002"] = transport_error()

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert run.created == 3 and run.error_code == "APIGW.0308"
    assert Job.objects.get(remote_id="vo-00002").needs_detail

    p.fail_detail.clear()
    run = sync.sync_account_kind(huawei_account, VT, provider=p)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert not Job.objects.filter(needs_detail=True).exists()


def test_it_skips_a_detail_the_vendor_no_longer_has(huawei_account):
    p = provider_with(2, kind=VT)
    p.fail_detail["vo-00001"] = NotFoundError("no such job", code="MSS.10001001")

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert not Job.objects.filter(needs_detail=True).exists()


def test_it_stores_voice_assessments_with_all_six_metrics(huawei_account):
    p = StubProvider([make_record(VT, 1, assessment=make_assessment("录音合格"))])

    sync.sync_account_kind(huawei_account, VT, provider=p)

    a = Assessment.objects.get(job__remote_id="vo-00001")
    assert a.suggestion == "录音合格"
    assert list(a.metrics.values_list("metric", flat=True)) == [
        "speed",
        "sound",
        "snr",
        "reverb",
        "dnsmos_ovrl",
        "dnsmos_bak",
    ]
    snr = a.metrics.get(metric="snr")
    assert (snr.expected, snr.actual, snr.status, snr.suggestion, snr.suggestion_en) == (
        "1-2",
        "2",
        0,
        "建议2",
        "advice 2",
    )

    p.replace(VT, "vo-00001", assessment=make_assessment("重新录制"))
    sync.sync_account_kind(huawei_account, VT, provider=p)
    a.refresh_from_db()
    assert a.suggestion == "重新录制" and AssessmentMetric.objects.count() == 6


def test_it_syncs_tracked_short_jobs_by_id(huawei_account):
    p = StubProvider()
    p.tracked[(VA, "sj-1")] = make_record(VA, 1, remote_id="sj-1", state="PROCESSING", assessment=None)
    p.tracked[(VA, "sj-2")] = make_record(VA, 2, remote_id="sj-2", state="SUCCEED", assessment=make_assessment())

    assert sync.track_jobs(huawei_account, VA, ["sj-1", "sj-2", "sj-3", "sj-1", " "]) == 3
    run = sync.sync_account_kind(huawei_account, VA, provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert (run.seen, run.updated, run.marked_gone, run.events_created) == (2, 2, 0, 0)
    assert Job.objects.get(remote_id="sj-1").status == "running"
    # An id the vendor never knew is not kept (issue #12, item 3); one it knew goes "gone".
    assert not Job.objects.filter(remote_id="sj-3").exists()
    assert Assessment.objects.get(job__remote_id="sj-2").metrics.count() == 6

    # The settled job is not asked again; the running one is, and its change is an event.
    p.replace(VA, "sj-1", state="SUCCEED")
    calls = p.api_calls
    run = sync.sync_account_kind(huawei_account, VA, provider=p)
    assert p.api_calls - calls == 1 and run.events_created == 1
    assert sync.track_jobs(huawei_account, VA, ["sj-1"]) == 0


def test_it_refuses_to_track_jobs_of_a_kind_the_accounts_cloud_does_not_have(tencent_account):
    with pytest.raises(ValueError, match="has no 'voice_assessment' jobs"):
        sync.track_jobs(tencent_account, VA, ["sj-1"])
    assert not Job.objects.exists()


def test_it_skips_a_sync_while_another_holds_the_lease(huawei_account):
    assert sync.claim_lease(huawei_account.pk, "someone-else")
    p = provider_with(3)

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.SKIPPED
    assert p.api_calls == 0 and Job.objects.count() == 0
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "someone-else"  # not released by the loser


def test_it_heals_an_expired_lease(huawei_account):
    CloudAccount.objects.filter(pk=huawei_account.pk).update(
        lease_owner="dead-worker", lease_until=timezone.now() - timedelta(seconds=1)
    )

    run = sync.sync_account_kind(huawei_account, AV, provider=provider_with(2))

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    huawei_account.refresh_from_db()
    assert huawei_account.lease_owner == "" and huawei_account.lease_until is None


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_overlapping_syncs_work(huawei_account):
    entered, proceed = threading.Event(), threading.Event()

    class SlowProvider(StubProvider):
        def iter_pages(self, kind, **listing):
            entered.set()
            proceed.wait(10)
            yield from super().iter_pages(kind)

    slow, fast = SlowProvider([make_record(AV, i) for i in range(1, 5)]), provider_with(4)
    result = {}

    def first():
        try:
            result["first"] = sync.sync_account_kind(huawei_account, AV, provider=slow)
        finally:
            connection.close()

    worker = threading.Thread(target=first)
    worker.start()
    assert entered.wait(10)
    second = sync.sync_account_kind(CloudAccount.objects.get(pk=huawei_account.pk), AV, provider=fast)
    proceed.set()
    worker.join(10)

    assert second.outcome == SyncRun.Outcome.SKIPPED and fast.api_calls == 0
    assert result["first"].outcome == SyncRun.Outcome.SUCCEEDED and result["first"].created == 4
    assert Job.objects.count() == 4


def test_it_records_a_bad_credential_as_failed_without_retrying(huawei_account):
    p = provider_with(3)
    p.fail_on_page = (AV, 0, AuthError("signature mismatch", code="APIGW.0301", status=401, request_id="r-1"))

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error_code == "APIGW.0301" and "HTTP 401" in run.error_message
    assert run.retryable is False
    assert p.api_calls == 1


def test_it_never_stores_a_secret_in_an_error(huawei_account):
    p = provider_with(1)
    p.fail_on_page = (AV, 0, AuthError("bad key sk-super-secret-value", code="x"))

    run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert "sk-super-secret-value" not in run.error_message
    huawei_account.refresh_from_db()
    assert "sk-super-secret-value" not in huawei_account.last_error


def test_it_updates_the_account_after_a_sync(huawei_account):
    p = StubProvider([make_record(AV, 1, state="TRAINING"), make_record(VT, 2, state="SUCCEED")])
    p.tracked.clear()

    runs = sync.sync_account(huawei_account, provider=p)

    assert [r.kind for r in runs] == [AV, VT, VA]
    assert all(r.outcome == SyncRun.Outcome.SUCCEEDED for r in runs)
    huawei_account.refresh_from_db()
    assert huawei_account.has_active_jobs
    assert huawei_account.last_success_at == huawei_account.last_sync_at
    assert huawei_account.last_error == ""


def test_it_counts_api_calls_per_run(huawei_account):
    p = provider_with(7, kind=VT)

    run = sync.sync_account_kind(huawei_account, VT, provider=p)

    assert run.api_calls == 3 + 7  # three list pages, seven details


def test_it_refreshes_one_job(huawei_account):
    p = provider_with(2, kind=VT)
    sync.sync_account_kind(huawei_account, VT, provider=p)
    p.replace(VT, "vo-00001", state="FAILED")
    job = Job.objects.get(remote_id="vo-00001")

    run = sync.refresh_job(job, provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.trigger == "refresh"
    job.refresh_from_db()
    assert job.state == "FAILED" and not job.needs_detail
    assert job.events.filter(source="observed").count() == 1


def test_it_fills_in_queued_runs(huawei_account):
    queued = SyncRun.objects.create(account=huawei_account, kind=VT, outcome="queued", trigger="manual")

    runs = sync.sync_account(huawei_account, [VT], trigger="manual", runs=[queued], provider=provider_with(2, kind=VT))

    assert runs[0].pk == queued.pk
    queued.refresh_from_db()
    assert queued.outcome == "succeeded" and queued.created == 2 and queued.finished_at


def test_it_closes_a_queued_run_for_a_kind_no_longer_synced(huawei_account):
    queued = SyncRun.objects.create(account=huawei_account, kind="translation", outcome="queued")

    sync.sync_account(huawei_account, [VT], runs=[queued], provider=provider_with(1, kind=VT))

    queued.refresh_from_db()
    assert queued.outcome == "skipped" and queued.finished_at


def test_it_finds_accounts_whose_interval_has_passed(huawei_account, tencent_account):
    now = timezone.now()
    CloudAccount.objects.filter(pk=huawei_account.pk).update(
        last_sync_at=now - timedelta(seconds=90), has_active_jobs=True, active_sync_interval=60, sync_interval=300
    )
    CloudAccount.objects.filter(pk=tencent_account.pk).update(
        last_sync_at=now - timedelta(seconds=90), sync_interval=300
    )

    assert [a.name for a in sync.due_accounts(now)] == ["hw-main"]

    CloudAccount.objects.filter(pk=huawei_account.pk).update(enabled=False)
    assert sync.due_accounts(now) == []


def test_it_does_not_enqueue_an_account_twice(huawei_account):
    account = sync.due_accounts()[0]

    assert sync.mark_enqueued(account)
    assert not sync.mark_enqueued(account)  # a stale copy loses
    assert sync.due_accounts() == []


def test_it_fails_runs_that_were_abandoned(huawei_account):
    old = timezone.now() - timedelta(days=1)
    stale = SyncRun.objects.create(account=huawei_account, kind=AV, outcome="running", started_at=old)
    fresh = SyncRun.objects.create(account=huawei_account, kind=AV, outcome="queued")

    assert sync.expire_abandoned_runs() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.outcome == "failed" and stale.error_code == "abandoned"
    assert fresh.outcome == "queued"


def test_it_offers_the_longest_unsynced_account_first(db):
    now = timezone.now()
    ages = {"a": 100, "b": 900, "c": None, "d": 400}
    for name, age in ages.items():
        CloudAccount.objects.create(
            name=name,
            provider="huawei",
            region="cn-north-4",
            project_id="0123456789abcdef0123456789abcdef",
            sync_interval=60,
            last_sync_at=None if age is None else now - timedelta(seconds=age),
        )

    assert [a.name for a in sync.due_accounts(now)] == ["c", "b", "d", "a"]


def test_no_account_starves_when_the_workers_cannot_keep_up(db):
    """Twelve accounts due every 60 s, workers that finish four syncs a minute, a dispatcher
    every 15 s and tasks that expire after one interval (jobs.tasks.dispatch_due_syncs): over an
    hour every account is synced about as often as every other."""
    start = timezone.now()
    for n in range(12):
        CloudAccount.objects.create(
            name=f"acct-{n:02d}",
            provider="huawei",
            region="cn-north-4",
            project_id="0123456789abcdef0123456789abcdef",
            sync_interval=60,
        )
    queue, synced = [], Counter()
    for tick in range(240):  # 15 s each
        now = start + timedelta(seconds=15 * tick)
        for account in sync.due_accounts(now):
            if sync.mark_enqueued(account, now):
                queue.append((account.pk, now))
        queue = [(pk, at) for pk, at in queue if at > now - timedelta(seconds=60)]  # expired unserved
        served, queue = queue[:1], queue[1:]  # one sync finishes every 15 s
        for pk, _ in served:
            CloudAccount.objects.filter(pk=pk).update(last_sync_at=now)
            synced[pk] += 1

    assert len(synced) == 12
    assert sum(synced.values()) == 240
    assert max(synced.values()) - min(synced.values()) <= 2, synced


def test_refreshing_a_job_reads_its_own_detail_whatever_else_waits(huawei_account):
    p = StubProvider([make_record(AV, i) for i in range(1, 4)])
    sync.sync_account(huawei_account, provider=p)
    Job.objects.filter(remote_id="av-00001").update(needs_detail=True)  # waiting longest
    p.detail_calls.clear()

    run = sync.refresh_job(Job.objects.get(remote_id="av-00003"), provider=p)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED
    assert p.detail_calls == ["av-00003"]
