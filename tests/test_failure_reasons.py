"""Failure reasons and start/finish times: filled at sync time from the vendor's fields, else
from the op-logs (jobs.sync.reasons), backfilled for caches synced before, shown in the list
and the overview and exported in the CSV; the list's out-of-range badge of an assessment."""

import csv
import importlib
import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import sync
from jobs.models import Job
from jobs.providers.base import EventRecord
from tests.fixtures_sync import T0, StubProvider, make_record
from tests.fixtures_ui import make_account, make_assessment, make_event, make_job

pytestmark = [pytest.mark.django_db]

AV, VT, VA = "avatar_training", "voice_training", "voice_assessment"
MIGRATION = "jobs.migrations.0016_backfill_reasons_and_times"


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def oplog(minutes, action, message="", **details):
    return EventRecord(at(minutes), "oplog", action=action, operator="SYSTEM", message=message, details=details)


AVATAR_TRAIN_FAILED = [
    oplog(0, "USER_CREATE_JOD"),
    oplog(30, "USER_VERIFYING_SUBMITTED"),
    oplog(40, "SYSTEM_VERIFY_SUCCESS"),
    oplog(90, "SYSTEM_TRAINING"),
    oplog(500, "SYSTEM_TRAIN_FAILED", "training worker exited with code 137"),
]


def synced_job(account, rec, events=(), provider=None):
    p = provider or StubProvider([rec])
    p.events[rec.remote_id] = list(events)
    sync.sync_account_kind(account, rec.kind, provider=p)
    return Job.objects.get(remote_id=rec.remote_id), p


# --- at sync time, per kind -----------------------------------------------------------------


def test_a_failed_avatar_job_gets_its_failing_op_log_entry_and_its_times(huawei_account):
    job, _ = synced_job(huawei_account, make_record(AV, 1, state="TRAIN_FAILED"), AVATAR_TRAIN_FAILED)

    assert (job.error_code, job.error_message) == ("", "training worker exited with code 137")
    assert (job.started_at, job.finished_at) == (at(30), at(500))  # submitted .. failed


def test_an_avatar_op_log_error_code_comes_with_its_reason(huawei_account):
    events = [
        oplog(0, "USER_CREATE_JOD"),
        oplog(5, "USER_VERIFYING_SUBMITTED"),
        oplog(6, "SYSTEM_VERIFY_FAILED", "视频分辨率不符合要求", error_code="44005901"),
    ]
    job, _ = synced_job(huawei_account, make_record(AV, 2, state="AUTO_VERIFY_FAILED"), events)

    assert (job.error_code, job.error_message) == ("44005901", "视频分辨率不符合要求")


def test_a_failing_entry_without_text_falls_back_to_the_admin_comment_then_the_action(huawei_account):
    comment = EventRecord(at(20), "comment", action="ADMIN_COMMENT", message="审核不通过\n请上传授权书")
    job, _ = synced_job(
        huawei_account,
        make_record(AV, 3, state="MANUAL_VERIFY_FAILED"),
        [oplog(5, "USER_VERIFYING_SUBMITTED"), oplog(10, "ADMIN_VERIFY_FAILED"), comment],
    )
    bare, _ = synced_job(
        huawei_account, make_record(AV, 4, state="COMPILE_FAILED"), [oplog(9, "SYSTEM_COMPILE_FAILED")]
    )

    assert job.error_message == "审核不通过\n请上传授权书"
    assert bare.error_message == "SYSTEM_COMPILE_FAILED"


def test_a_voice_job_keeps_the_vendor_fields_before_the_op_log(huawei_account):
    rec = make_record(VT, 1, state="FAILED", error_code="MSS.20030035", error_message="训练失败：有效音频时长不足")
    events = [
        oplog(0, "CREATE_JOB"),
        oplog(10, "COMMIT_JOB"),
        oplog(70, "AUDIT_NOT_PASS", "algorithm says no", algorithm_failure_reason="algorithm says no"),
    ]
    job, _ = synced_job(huawei_account, rec, events)

    assert (job.error_code, job.error_message) == ("MSS.20030035", "训练失败：有效音频时长不足")
    assert (job.started_at, job.finished_at) == (at(10), at(70))


def test_a_voice_review_rejection_gets_the_audit_result_and_no_finish_yet(huawei_account):
    audit = EventRecord(at(61), "audit", action="SYSTEM_AUDIT", message="003.wav: 音频与文本内容不一致")
    events = [oplog(0, "CREATE_JOB"), oplog(10, "COMMIT_JOB"), oplog(60, "AUDIT_NOT_PASS"), audit]
    job, _ = synced_job(huawei_account, make_record(VT, 2, state="AUDIT_FAILED"), events)

    assert job.status == "needs_action" and job.error_message == "003.wav: 音频与文本内容不一致"
    assert (job.started_at, job.finished_at) == (at(10), None)  # the user can still fix it


def test_a_failed_voice_assessment_has_its_vendor_reason_and_finishes_at_its_last_update(huawei_account):
    rec = make_record(VA, 1, state="FAILED", error_code="MSS.20030041", error_message="音频文件解析失败")
    p = StubProvider()
    p.tracked[(VA, rec.remote_id)] = rec
    sync.track_jobs(huawei_account, VA, [rec.remote_id])

    sync.sync_account_kind(huawei_account, VA, provider=p)

    job = Job.objects.get(remote_id=rec.remote_id)
    assert (job.error_code, job.error_message) == ("MSS.20030041", "音频文件解析失败")
    assert job.finished_at == rec.updated_at


def test_a_later_listing_does_not_blank_the_reason_and_times(huawei_account):
    rec = make_record(AV, 1, state="TRAIN_FAILED")
    job, p = synced_job(huawei_account, rec, AVATAR_TRAIN_FAILED)
    p.replace(AV, rec.remote_id, name="renamed", updated_at=at(900))  # changed: listed again

    sync.sync_account_kind(huawei_account, AV, provider=p)

    job = Job.objects.get(pk=job.pk)
    assert job.name == "renamed"
    assert (job.error_message, job.started_at, job.finished_at) == (
        "training worker exited with code 137",
        at(30),
        at(500),
    )


def test_every_failed_job_of_every_kind_has_a_reason_after_a_fakecloud_sync(fakecloud, fc_accounts):
    hw, ci = fc_accounts
    sync.track_jobs(hw, VA, fakecloud.short_job_ids())
    for account in fc_accounts:
        sync.sync_account(account)

    failed = Job.objects.filter(status="failed")
    assert set(failed.values_list("kind", flat=True)) == {AV, VT, VA, "translation"}
    assert not failed.filter(error_message=""), "failed jobs without a reason"
    assert failed.filter(state="TRAIN_FAILED", error_message="training worker exited with code 137").exists()
    settled_huawei = Job.objects.filter(kind__in=(AV, VT), status__in=("succeeded", "failed"))
    assert settled_huawei and not settled_huawei.filter(finished_at=None)
    assert all(j.started_at <= j.finished_at for j in settled_huawei.exclude(started_at=None))


# --- the backfill migration -----------------------------------------------------------------


def test_the_backfill_fills_cached_jobs_from_their_stored_op_logs_in_batches(django_assert_max_num_queries):
    account = make_account()
    failed = make_job(account, AV, "TRAIN_FAILED")
    for ev in AVATAR_TRAIN_FAILED:
        make_event(failed, ev.occurred_at, action=ev.action, message=ev.message)
    vendor = make_job(account, VT, "FAILED", error_code="MSS.1", error_message="vendor says")
    make_event(vendor, at(1), action="COMMIT_JOB")
    make_event(vendor, at(2), action="AUDIT_NOT_PASS", message="op-log says")
    short = make_job(account, VA, "SUCCEED")
    running = make_job(account, AV, "TRAINING")
    make_event(running, at(3), action="USER_VERIFYING_SUBMITTED")
    untouched = make_job(account, "translation", "Failed")

    with django_assert_max_num_queries(4 * 3 + 2):  # 4 jobs in batches of 2: read, events, update
        importlib.import_module(MIGRATION).backfill(apps, None, batch=2)

    failed, vendor, short, running, untouched = (
        Job.objects.get(pk=j.pk) for j in (failed, vendor, short, running, untouched)
    )
    assert (failed.error_message, failed.started_at, failed.finished_at) == (
        "training worker exited with code 137",
        at(30),
        at(500),
    )
    assert (vendor.error_code, vendor.error_message, vendor.finished_at) == ("MSS.1", "vendor says", at(2))
    assert short.finished_at == short.updated_at and short.started_at is None
    assert (running.started_at, running.finished_at) == (at(3), None)
    assert untouched.error_message == ""  # no vendor text, no events: nothing to say


# --- where they show ------------------------------------------------------------------------


def _csv(response):
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return {row["remote_id"]: row for row in csv.DictReader(io.StringIO(text))}


def test_the_csv_has_the_reason_and_the_start_finish_and_duration(viewer_client):
    account = make_account()
    job = make_job(
        account,
        AV,
        "TRAIN_FAILED",
        error_message="training worker exited with code 137",
        started_at=at(30),
        finished_at=at(500),
    )
    running = make_job(account, AV, "TRAINING", started_at=at(30))

    rows = _csv(viewer_client.get("/jobs/export.csv"))

    row = rows[job.remote_id]
    assert row["error_message"] == "training worker exited with code 137"
    assert (row["started_at"], row["finished_at"]) == (at(30).isoformat(), at(500).isoformat())
    assert row["duration_seconds"] == str(470 * 60)
    assert rows[running.remote_id]["finished_at"] == rows[running.remote_id]["duration_seconds"] == ""


def test_the_list_and_the_overview_show_a_failed_jobs_reason(viewer_client):
    account = make_account()
    make_job(account, AV, "TRAIN_FAILED", error_message="training worker exited with <code> 137")
    make_job(account, AV, "JOB_SUCCESS", error_message="an old reason of a job that recovered")

    listing = viewer_client.get("/jobs/").content.decode()
    overview = viewer_client.get("/").content.decode()

    assert 'class="reason small">training worker exited with &lt;code&gt; 137<' in listing
    assert "an old reason" not in listing
    assert "training worker exited with &lt;code&gt; 137" in overview


def test_the_list_shows_how_many_assessment_metrics_are_out_of_range_in_one_query(viewer_client):
    account = make_account()
    assessed = [make_job(account, VA, "SUCCEED") for _ in range(3)]
    for job in assessed:
        make_assessment(job)
    clean = make_job(account, VA, "SUCCEED")
    make_assessment(clean).metrics.update(status=0)
    out = assessed[0].assessment.metrics.exclude(status=0).count()

    with CaptureQueriesContext(connection) as queries:
        html = viewer_client.get("/jobs/").content.decode()

    assert html.count(f"{out} of 6 out of range") == 3
    assert html.count("out of range") == 3  # not on the job whose metrics are all fine
    assert sum("assessmentmetric" in q["sql"] for q in queries.captured_queries) == 1
