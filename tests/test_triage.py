"""Failure triage (jobs.triage): the group a failure belongs to, the groups counted per window in
SQL, the page and its CSV, the list filtered to one group, the sync filling the group and the
migration backfilling it."""

import csv
import importlib
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.urls import reverse

from jobs import rollups, sync, triage
from jobs.models import Job
from jobs.providers.base import EventRecord
from tests.fixtures_sync import T0, StubProvider, make_record
from tests.fixtures_ui import make_account, make_job

AV, VT, VA, TR = "avatar_training", "voice_training", "voice_assessment", "translation"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MIGRATION = "jobs.migrations.0017_failure_group"


# --- the signature ---------------------------------------------------------------------------

# (message, its normalised reason): ids, node numbers, paths, times folded; short numbers kept.
NORMALISED = [
    ("training worker exited with code 137 on node-12", "training worker exited with code 137 on node-<n>"),
    ("training worker exited with code 137", "training worker exited with code 137"),  # fakecloud's own
    ("OOM killed on gpu-3 (worker7)", "OOM killed on gpu-<n> (worker<n>)"),
    ("job 26f06524-4f75-4b3a-a853-b649a21aaf66 timed out", "job <id> timed out"),
    ("job 26F065244F754B3AA853B649A21AAF66 timed out", "job <id> timed out"),
    ("trace 0a1b2c3d4e5f6789 lost", "trace <id> lost"),
    ("file /data/jobs/123/audio.wav not found", "file <path> not found"),
    ("cannot read audio/001.wav", "cannot read <path>"),
    ("fetch https://obs.cn-north-4.myhuaweicloud.com/b/x.mp4?sig=ab12 failed", "fetch <path> failed"),
    ("connect to 10.0.3.17:8080 refused", "connect to <ip> refused"),
    ("deadline passed at 2026-12-06T10:15:00Z", "deadline passed at <time>"),
    ("deadline passed at 2026-12-06 10:15:00+08:00", "deadline passed at <time>"),
    ("stalled since 10:15:03", "stalled since <time>"),
    ("timeout after 30000 ms", "timeout after <n> ms"),
    ("segment 3 of 12 too short", "segment 3 of 12 too short"),
    ("  many\tspaces\n here ", "many spaces here"),
    # fakecloud's failure texts (fakecloud/data.py): no ids in them, so they stay as they are.
    ("训练视频中未检测到稳定人脸", "训练视频中未检测到稳定人脸"),
    ("推理数据预处理超时", "推理数据预处理超时"),
    ("音频切分失败：未检测到有效语音段", "音频切分失败：未检测到有效语音段"),
    ("授权书与录音人不一致", "授权书与录音人不一致"),
    ("审核不通过", "审核不通过"),
    ("SYSTEM_TRAIN_FAILED", "SYSTEM_TRAIN_FAILED"),
    ("", ""),
]


@pytest.mark.parametrize("message, reason", NORMALISED)
def test_it_folds_what_varies_per_job(message, reason):
    assert triage.normalise(message) == reason


def test_the_two_node_examples_group_together_but_exit_codes_do_not():
    on_12 = triage.signature(AV, "", "exited with code 137 on node-12")
    on_7 = triage.signature(AV, "", "exited with code 137 on node-7")
    code_1 = triage.signature(AV, "", "exited with code 1 on node-7")

    assert on_12 == on_7 == "avatar_training|exited with code 137 on node-<n>"
    assert code_1 != on_7


def test_codes_come_before_reasons():
    a = triage.signature(VT, "MSS.20030035", "训练失败：有效音频时长不足")
    b = triage.signature(VT, "MSS.20030035", "something else entirely on node-3")

    assert a == b == "voice_training|code:MSS.20030035"
    assert triage.signature(VT, "", "训练失败：有效音频时长不足") == "voice_training|训练失败：有效音频时长不足"
    assert triage.signature(VA, "MSS.20030035", "x") != a  # the kind is part of the group
    assert triage.split(a) == (VT, "MSS.20030035", "")


def test_a_reason_is_cut_to_200_characters_and_only_failed_jobs_have_a_group():
    sig = triage.signature(TR, "", "word " * 100)

    assert len(sig) == len(TR) + 1 + len(("word " * 40).strip())
    assert not sig.endswith(" ")
    assert triage.group_of(TR, "failed", "", "x") == "translation|x"
    assert triage.group_of(TR, "running", "E1", "x") == ""


# --- the groups, counted in SQL --------------------------------------------------------------


def failed(account, minutes_ago, code="", message="", kind=AV, state="TRAIN_FAILED", **fields):
    return make_job(
        account,
        kind,
        state,
        error_code=code,
        error_message=message,
        failure_group=triage.signature(kind, code, message),
        state_changed_at=NOW - timedelta(minutes=minutes_ago),
        **fields,
    )


@pytest.fixture
def fixture_jobs(db):
    """Hand-counted: group A (code 137 on nodes) 1 in the hour, 2 in the day, 3 in the week,
    4 in all; group B (vendor code) 1 in the day; a gone job and a running job count nowhere."""
    a1, a2 = make_account("acc-a"), make_account("acc-b", provider="huawei")
    ci = make_account("acc-ci", provider="tencent")
    jobs = {
        "a_30m": failed(a1, 30, message="exited with code 137 on node-12", batch="b1"),
        "a_5h": failed(a2, 5 * 60, message="exited with code 137 on node-7", batch="b2"),
        "a_3d": failed(a1, 3 * 24 * 60, message="exited with code 137 on node-3"),
        "a_20d": failed(a1, 20 * 24 * 60, message="exited with code 137 on node-99"),
        "b_2h": failed(a2, 120, code="MSS.20030035", message="训练失败：有效音频时长不足", kind=VT, state="FAILED"),
        "c_8d": failed(ci, 8 * 24 * 60, message="Failed", kind=TR, state="Failed"),
        "gone": failed(a1, 10, message="exited with code 137 on node-1", gone=True),
        "other_code": failed(a1, 10, message="exited with code 1 on node-1"),
    }
    make_job(a1, AV, "TRAINING", error_message="exited with code 137 on node-12")
    rollups.refresh_all(now=NOW)  # the all-time totals, as each sync run leaves them
    return jobs


@pytest.mark.db_sensitive
def test_groups_are_counted_per_window_against_hand_counted_jobs(fixture_jobs, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        groups = triage.failure_groups({}, now=NOW)

    by = {g.signature: g for g in groups}
    a = by["avatar_training|exited with code 137 on node-<n>"]
    assert (a.hour, a.day, a.week, a.total) == (1, 2, 3, 4)
    assert a.first_seen == NOW - timedelta(days=20) and a.last_seen == NOW - timedelta(minutes=30)
    assert a.accounts == ["acc-a", "acc-b"] and a.batches == ["b1", "b2"]
    assert (a.account_count, a.batch_count) == (2, 2)
    assert a.trend == [0] * 10 + [1, 0, 0, 2]  # 3 days ago, and today (5 h ago and 30 min ago)
    b = by["voice_training|code:MSS.20030035"]
    assert (b.kind, b.code, b.sample, b.hour, b.day, b.week, b.total) == (
        VT,
        "MSS.20030035",
        "训练失败：有效音频时长不足",
        0,
        1,
        1,
        1,
    )
    assert by["avatar_training|exited with code 1 on node-<n>"].hour == 1
    assert by["translation|Failed"].week == 0
    assert len(groups) == 4  # the gone job's group is the same A (not counted); the running job has none
    assert [g.signature for g in groups][:2] == [a.signature, "avatar_training|exited with code 1 on node-<n>"]


@pytest.mark.db_sensitive
def test_groups_filter_by_account_cloud_and_kind(fixture_jobs):
    acc_b = Job.objects.get(pk=fixture_jobs["a_5h"].pk).account_id

    by_account = {g.signature: g.total for g in triage.failure_groups({"account": [acc_b]}, now=NOW)}
    by_cloud = [g.signature for g in triage.failure_groups({"cloud": ["tencent"]}, now=NOW)]
    by_kind = [g.signature for g in triage.failure_groups({"kind": [VT, TR]}, now=NOW)]

    assert by_account == {"voice_training|code:MSS.20030035": 1, "avatar_training|exited with code 137 on node-<n>": 1}
    assert by_cloud == ["translation|Failed"]
    assert sorted(by_kind) == ["translation|Failed", "voice_training|code:MSS.20030035"]


def test_the_overview_gets_the_top_groups_of_the_last_week(fixture_jobs):
    top = triage.top_failure_groups(limit=2, now=NOW)

    assert [g.signature for g in top] == [
        "avatar_training|exited with code 137 on node-<n>",
        "avatar_training|exited with code 1 on node-<n>",
    ]
    assert "translation|Failed" not in [g.signature for g in triage.top_failure_groups(now=NOW)]


# --- the page, its CSV and the link to the list ----------------------------------------------


@pytest.mark.db_sensitive
def test_a_group_links_to_exactly_its_jobs_in_the_list(viewer_client, fixture_jobs):
    with time_machine.travel(NOW, tick=False):
        page = viewer_client.get(reverse("triage"))
    assert page.status_code == 200
    group = next(g for g in page.context["groups"] if g.code == "" and "137" in g.reason)
    assert group.list_url in page.content.decode().replace("&amp;", "&")

    listing = viewer_client.get(group.list_url)

    shown = {job.pk for job in listing.context["page"].rows}
    assert shown == {fixture_jobs[k].pk for k in ("a_30m", "a_5h", "a_3d", "a_20d")}


def test_the_page_keeps_its_filters_in_the_links_and_refuses_nonsense(viewer_client, fixture_jobs):
    with time_machine.travel(NOW, tick=False):
        page = viewer_client.get(reverse("triage"), {"kind": VT})
    assert [g.signature for g in page.context["groups"]] == ["voice_training|code:MSS.20030035"]
    assert page.context["groups"][0].list_url.endswith("&kind=voice_training")
    assert "triage.csv?kind=voice_training" in page.content.decode()

    assert viewer_client.get(reverse("triage"), {"kind": "nope"}).status_code == 400
    assert viewer_client.get(reverse("triage"), {"account": "x"}).status_code == 400
    assert viewer_client.get(reverse("triage_csv"), {"cloud": "aws"}).status_code == 400


def test_the_page_needs_a_login(client):
    assert client.get(reverse("triage")).status_code == 302


def test_the_csv_has_one_row_per_group_with_its_counts(viewer_client, fixture_jobs):
    with time_machine.travel(NOW, tick=False):
        response = viewer_client.get(reverse("triage_csv"))

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    a = next(r for r in rows if r["group"] == "avatar_training|exited with code 137 on node-<n>")
    assert (a["last_hour"], a["last_day"], a["last_week"], a["total"]) == ("1", "2", "3", "4")
    assert a["accounts"] == "acc-a, acc-b" and a["jobs_url"].startswith("http://testserver/jobs/?failure=")
    assert len(rows) == 4


def test_a_reason_that_looks_like_a_formula_is_text_in_the_csv(viewer_client):
    failed(make_account(), 5, message="=HYPERLINK(1)", kind=TR, state="Failed")

    with time_machine.travel(NOW, tick=False):
        rows = list(csv.reader(io.StringIO(viewer_client.get(reverse("triage_csv")).content.decode("utf-8-sig"))))

    assert rows[1][4] == "'=HYPERLINK(1)"


# --- the sync fills the group ----------------------------------------------------------------


def synced(account, rec, events=(), provider=None):
    p = provider or StubProvider([rec])
    p.events[rec.remote_id] = list(events)
    sync.sync_account_kind(account, rec.kind, provider=p)
    return Job.objects.get(remote_id=rec.remote_id), p


def test_a_listing_with_a_vendor_code_fills_the_group(huawei_account):
    rec = make_record(VT, 1, state="FAILED", error_code="MSS.20030035", error_message="训练失败：有效音频时长不足")

    job, _ = synced(huawei_account, rec)

    assert job.failure_group == "voice_training|code:MSS.20030035"


def test_the_op_log_reason_fills_the_group_and_a_later_listing_keeps_it(huawei_account):
    rec = make_record(AV, 1, state="TRAIN_FAILED")
    events = [
        EventRecord(T0, "oplog", action="USER_CREATE_JOD", operator="USER"),
        EventRecord(T0 + timedelta(hours=2), "oplog", action="SYSTEM_TRAIN_FAILED", message="exit 137 on node-12"),
    ]
    job, p = synced(huawei_account, rec, events)
    assert job.failure_group == "avatar_training|exit 137 on node-<n>"

    p.replace(AV, rec.remote_id, name="renamed", updated_at=T0 + timedelta(hours=5))  # listed again, no reason
    sync.sync_account_kind(huawei_account, AV, provider=p)

    job = Job.objects.get(pk=job.pk)
    assert job.name == "renamed" and job.failure_group == "avatar_training|exit 137 on node-<n>"


def test_a_job_that_is_not_failed_has_no_group(huawei_account):
    rec = make_record(AV, 2, state="TRAIN_FAILED", error_code="MSS.1", error_message="bad")
    job, p = synced(huawei_account, rec)
    assert job.failure_group == "avatar_training|code:MSS.1"

    p.replace(AV, rec.remote_id, state="TRAINING", updated_at=T0 + timedelta(hours=5))  # retried
    sync.sync_account_kind(huawei_account, AV, provider=p)

    job = Job.objects.get(pk=job.pk)
    assert job.status == "running" and job.error_code == "MSS.1" and job.failure_group == ""


def test_every_failed_fakecloud_job_has_a_group_and_no_other_job_has_one(fakecloud, fc_accounts):
    for account in fc_accounts:
        sync.sync_account(account)

    jobs = list(Job.objects.values_list("kind", "status", "error_code", "error_message", "failure_group"))
    assert any(status == "failed" for _, status, *_ in jobs)
    assert all(group == triage.group_of(kind, status, code, msg) for kind, status, code, msg, group in jobs)
    assert {g for *_, g in jobs} >= {"avatar_training|training worker exited with code 137", ""}


# --- the backfill migration ------------------------------------------------------------------


def test_the_backfill_groups_cached_failed_jobs_in_batches(db, django_assert_max_num_queries):
    account = make_account()
    jobs = [make_job(account, AV, "TRAIN_FAILED", error_message=f"exited with code 137 on node-{n}") for n in range(3)]
    coded = make_job(account, VT, "FAILED", error_code="MSS.2", error_message="x")
    running = make_job(account, AV, "TRAINING", error_message="exited with code 137 on node-1")

    with django_assert_max_num_queries(3 * 2 + 1):  # 4 failed jobs in batches of 2: read, update; last read
        importlib.import_module(MIGRATION).backfill(apps, None, batch=2)

    groups = {j.pk: j.failure_group for j in Job.objects.all()}
    assert {groups[j.pk] for j in jobs} == {"avatar_training|exited with code 137 on node-<n>"}
    assert groups[coded.pk] == "voice_training|code:MSS.2"
    assert groups[running.pk] == ""
