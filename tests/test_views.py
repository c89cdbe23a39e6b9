import csv
import html
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, SyncRun, UserPreference
from jobs.views import csv_safe
from tests.fixtures_ui import make_account, make_assessment, make_event, make_job, make_run

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _ids(response):
    return {int(pk) for pk in re.findall(r'<tr id="job-(\d+)"', response.content.decode())}


def _more_url(response):
    match = re.search(r'<tr id="load-more">.*?hx-get="([^"]+)"', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else None


# --- overview -----------------------------------------------------------------------------


def test_it_shows_counts_stuck_jobs_failures_and_sync_health(viewer_client, account):
    now = timezone.now()
    make_job(account, state="TRAINING", name="slow one", state_changed_at=now - timedelta(days=10))
    make_job(account, state="TRAIN_FAILED", name="broken one", error_message="bad video resolution")
    account.last_success_at = now
    account.last_error = "MSS.00000004 Internal Error"
    account.save()
    response = viewer_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "<table" in html  # the chart and its text alternative
    assert "slow one" in html and "broken one" in html and "bad video resolution" in html
    assert "Fresh" in html and "MSS.00000004 Internal Error" in html


# --- job list -----------------------------------------------------------------------------


def test_it_filters_by_several_statuses_and_a_kind(viewer_client, account):
    running = make_job(account, state="TRAINING")
    failed = make_job(account, state="TRAIN_FAILED")
    make_job(account, state="JOB_SUCCESS")
    voice = make_job(account, kind="voice_training", state="FAILED")
    response = viewer_client.get("/jobs/?status=running&status=failed")
    assert _ids(response) == {running.pk, failed.pk, voice.pk}
    response = viewer_client.get("/jobs/?status=failed&kind=voice_training")
    assert _ids(response) == {voice.pk}


@pytest.mark.db_sensitive
def test_it_filters_by_account_cloud_state_batch_tag_and_text(viewer_client, account):
    other = make_account("tencent-1", provider="tencent")
    a = make_job(account, state="TRAINING", batch="spring", tags=["vip", "cn"], name="王小明 avatar")
    b = make_job(other, kind="translation", state="Running", name='doc, "quoted"')
    make_job(account, state="COMPILING", batch="autumn", tags=["other"])
    assert _ids(viewer_client.get(f"/jobs/?account={other.pk}")) == {b.pk}
    assert _ids(viewer_client.get("/jobs/?cloud=tencent")) == {b.pk}
    assert _ids(viewer_client.get("/jobs/?state=TRAINING")) == {a.pk}
    assert _ids(viewer_client.get("/jobs/?batch=spring")) == {a.pk}
    assert _ids(viewer_client.get("/jobs/?tag=vip")) == {a.pk}
    assert _ids(viewer_client.get("/jobs/?q=王小明")) == {a.pk}
    assert _ids(viewer_client.get(f"/jobs/?q={b.remote_id}")) == {b.pk}


@pytest.mark.db_sensitive
def test_it_filters_by_date_presets_and_ranges(viewer_client, account):
    now = timezone.now()
    fresh = make_job(account, created_at=now - timedelta(hours=1), updated_at=now)
    week = make_job(account, created_at=now - timedelta(days=3), updated_at=now - timedelta(days=3))
    old = make_job(account, created_at=now - timedelta(days=60), updated_at=now - timedelta(days=60))
    assert _ids(viewer_client.get("/jobs/?created=7d")) == {fresh.pk, week.pk}
    assert _ids(viewer_client.get("/jobs/?updated=30d")) == {fresh.pk, week.pk}
    day = (now - timedelta(days=60)).date().isoformat()
    assert _ids(viewer_client.get(f"/jobs/?created_from={day}&created_to={day}")) == {old.pk}


def test_it_shows_stuck_only_and_gone_jobs_on_request(viewer_client, account):
    stuck = make_job(account, state="TRAINING", state_changed_at=timezone.now() - timedelta(days=30))
    make_job(account, state="TRAINING")
    gone = make_job(account, state="JOB_SUCCESS", gone=True)
    assert _ids(viewer_client.get("/jobs/?stuck=1")) == {stuck.pk}
    assert gone.pk not in _ids(viewer_client.get("/jobs/"))
    assert gone.pk in _ids(viewer_client.get("/jobs/?include_gone=1"))


@pytest.mark.parametrize(
    "query",
    [
        "status=nope",
        "kind=x",
        "account=abc",
        "stuck=maybe",
        "created_from=yesterday",
        "after=garbage",
        "sort=random",
        "created=3d",
        "state=DROP%20TABLE",
        "since=notatime",
        "created_from=2026-02-02&created_to=2026-01-01",
    ],
)
def test_it_answers_400_to_nonsense_filters(viewer_client, query):
    assert viewer_client.get("/jobs/?" + query).status_code == 400


@pytest.mark.db_sensitive
def test_it_loads_more_rows_after_the_cursor(viewer_client, account):
    for _ in range(120):
        make_job(account)
    first = viewer_client.get("/jobs/")
    more_url = first.context["more_url"]
    assert more_url and "after=" in more_url
    second = viewer_client.get(more_url, **HX)
    assert not (_ids(first) & _ids(second))
    assert len(_ids(first)) == 50 and len(_ids(second)) == 50
    assert b"<html" not in second.content and b'id="load-more"' in second.content
    third = viewer_client.get(_more_url(second), **HX)
    assert len(_ids(third)) == 20 and _more_url(third) is None
    assert len(_ids(first) | _ids(second) | _ids(third)) == Job.objects.count()


def test_it_returns_a_partial_to_htmx_and_the_full_page_on_history_restore(viewer_client, account):
    make_job(account)
    partial = viewer_client.get("/jobs/?status=running", **HX)
    assert b"<html" not in partial.content and b'id="results"' in partial.content
    listing = viewer_client.get("/jobs/?status=running", HTTP_HX_TARGET="listing", **HX)
    assert b'id="filters"' in listing.content and b"<html" not in listing.content
    restore = viewer_client.get("/jobs/?status=running", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert b"<html" in restore.content
    assert "HX-Request" in partial["Vary"]


def test_the_cached_filter_form_follows_the_query_the_accounts_and_the_language(viewer_client, account):
    def checked(response, name):
        return set(re.findall(rf'name="{name}" value="([^"]+)" checked', response.content.decode()))

    make_job(account)
    assert checked(viewer_client.get("/jobs/?kind=translation"), "kind") == {"translation"}
    assert checked(viewer_client.get("/jobs/"), "kind") == set()
    assert 'value="teacher"' in viewer_client.get("/jobs/?q=teacher").content.decode()
    assert 'value="teacher"' not in viewer_client.get("/jobs/?q=teach").content.decode()
    account.name = "huawei-renamed"
    account.save()
    page = viewer_client.get("/jobs/").content.decode()
    assert "huawei-renamed" in page and "huawei-main" not in page
    assert "搜索" in viewer_client.get("/jobs/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "搜索" not in viewer_client.get("/jobs/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_it_keeps_every_filter_in_the_links(viewer_client, account):
    for _ in range(60):
        make_job(account, state="TRAINING", batch="b1")
    response = viewer_client.get("/jobs/?status=running&batch=b1&sort=created")
    for url in (response.context["more_url"], response.context["export_url"], response.context["poll_url"]):
        assert "status=running" in url and "batch=b1" in url and "sort=created" in url


@pytest.mark.db_sensitive
def test_it_counts_per_status_with_a_bound(viewer_client, account):
    Job.objects.bulk_create(
        [
            Job(
                account=account,
                kind="avatar_training",
                remote_id=f"r{i}",
                state="TRAINING",
                status="running",
                created_at=timezone.now(),
                updated_at=timezone.now(),
            )
            for i in range(1002)
        ]
    )
    make_job(account, state="TRAIN_FAILED")
    response = viewer_client.get("/jobs/counts/?status=failed", **HX)
    html = response.content.decode()
    assert re.search(r'class="total">1 job<', html), html[:300]
    chips = dict(re.findall(r'class="chip st-(\w+)[^>]*>[^<]*<span class="n">([^<]+)</span>', html))
    assert chips["running"] == "1,000+" and chips["failed"] == "1" and chips["succeeded"] == "0"
    # The total is the chips' sum: at least 1,000 running and the failed one.
    assert "1,001+ jobs" in viewer_client.get("/jobs/counts/").content.decode()
    html = viewer_client.get("/jobs/counts/?status=failed&status=succeeded").content.decode()
    assert re.search(r'class="total">1 job<', html), html[:300]


@pytest.mark.db_sensitive
def test_it_answers_a_poll_with_204_until_something_changes(viewer_client, account):
    job = make_job(account, state="TRAINING")
    poll_url = viewer_client.get("/jobs/?status=running").context["poll_url"]
    assert viewer_client.get(poll_url, **HX).status_code == 204
    Job.objects.filter(pk=job.pk).update(synced_at=timezone.now() + timedelta(seconds=1), name="renamed")
    response = viewer_client.get(poll_url, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "renamed" in body and 'id="poller"' in body
    assert str(job.pk) in response["X-Removed-Rows"].split()  # app.js drops the old copy
    next_poll = html.unescape(re.search(r'id="poller" hx-get="([^"]+)"', body).group(1))
    assert viewer_client.get(next_poll, **HX).status_code == 204


def test_it_runs_a_constant_number_of_queries_whatever_the_page_size(viewer_client, account):
    other = make_account("tencent-2", provider="tencent")

    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    make_job(account)
    count("/jobs/")  # the session's first request also reads the time-zone preference
    small = count("/jobs/")
    for i in range(80):
        make_job(other if i % 2 else account, kind="translation" if i % 2 else "avatar_training", tags=["t"])
    assert count("/jobs/") == small
    assert count("/jobs/counts/") == count("/jobs/counts/?status=running")


def test_it_escapes_hostile_job_names(viewer_client, account):
    job = make_job(account, name="<script>alert(1)</script><img src=x onerror=alert(1)>")
    for url in ("/jobs/", f"/jobs/{job.pk}/"):
        body = viewer_client.get(url).content.decode()
        assert "<script>alert(1)" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- CSV ----------------------------------------------------------------------------------


def _csv(response):
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_it_exports_exactly_the_filtered_rows(viewer_client, account):
    keep = [make_job(account, state="TRAINING", batch="x") for _ in range(7)]
    make_job(account, state="JOB_SUCCESS", batch="x")
    make_job(account, state="TRAINING", batch="y")
    rows = _csv(viewer_client.get("/jobs/export.csv?status=running&batch=x"))
    assert sorted(int(r["id"]) for r in rows) == sorted(j.pk for j in keep)


@pytest.mark.db_sensitive
def test_it_exports_awkward_names_intact_and_formulas_defused(viewer_client, account):
    names = ['a, "b" <c>', "数字人 主播，第一批", '=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rz"]
    for name in names:
        make_job(account, name=name)
    exported = {r["name"] for r in _csv(viewer_client.get("/jobs/export.csv"))}
    assert 'a, "b" <c>' in exported and "数字人 主播，第一批" in exported
    for dangerous in names[2:]:
        assert "'" + dangerous in exported
    assert csv_safe("=1") == "'=1" and csv_safe("ok=1") == "ok=1"


# --- job detail ---------------------------------------------------------------------------


def _detail_job(account, n_events):
    job = make_job(account, kind="voice_training", state="PROCESSING", linked_job_id="avatar-1")
    make_job(account, kind="avatar_training", remote_id="avatar-1", name="linked avatar")
    t0 = timezone.now() - timedelta(days=3)
    for i in range(n_events):
        make_event(job, t0 + timedelta(minutes=i), to_state="PROCESSING" if i % 2 else "WAITING", operator="SYSTEM")
    make_assessment(job)
    return job


def test_it_runs_a_constant_number_of_queries_whatever_the_event_count(viewer_client, account):
    small = _detail_job(account, 2)
    big = _detail_job(make_account("second"), 300)
    viewer_client.get("/")  # the session's first request also reads the time-zone preference
    with CaptureQueriesContext(connection) as a:
        viewer_client.get(f"/jobs/{small.pk}/")
    with CaptureQueriesContext(connection) as b:
        viewer_client.get(f"/jobs/{big.pk}/")
    assert len(a.captured_queries) == len(b.captured_queries)


def test_it_shows_the_timeline_with_durations_and_reasons(viewer_client, account):
    job = make_job(account, kind="voice_training", state="FAILED")
    t0 = timezone.now() - timedelta(days=2)
    make_event(job, t0, action="CREATE_JOB", operator="USER")
    make_event(job, t0 + timedelta(hours=2, minutes=5), action="AUDIT_NOT_PASS", operator="ADMIN", message="录音有杂音")
    body = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "CREATE_JOB" in body and "AUDIT_NOT_PASS" in body and "录音有杂音" in body
    assert "+2h 05m" in body and "by ADMIN" in body


def test_it_links_an_avatar_job_and_its_voice_job(viewer_client, account):
    voice = make_job(account, kind="voice_training", state="SUCCEED", name="the voice")
    avatar = make_job(account, kind="avatar_training", linked_job_id=voice.remote_id, name="the avatar")
    assert f'href="/jobs/{voice.pk}/"' in viewer_client.get(f"/jobs/{avatar.pk}/").content.decode()
    assert f'href="/jobs/{avatar.pk}/"' in viewer_client.get(f"/jobs/{voice.pk}/").content.decode()


def test_it_shows_the_assessment_advice_in_the_users_language(viewer_client, account):
    job = make_job(account, kind="voice_assessment", state="SUCCEED")
    make_assessment(job, suggestion="整体建议")
    english = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "The volume is too low" in english and "音量过低" not in english
    assert english.count("Out of range") >= 2 and "整体建议" in english
    viewer_client.cookies["django_language"] = "zh-hans"
    chinese = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "音量过低" in chinese and "The volume is too low" not in chinese
    assert "超出范围" in chinese


def test_it_hides_the_refresh_button_from_viewers(viewer_client, account):
    job = make_job(account)
    assert "Refresh this job" not in viewer_client.get(f"/jobs/{job.pk}/").content.decode()


def test_it_answers_404_for_a_missing_job(viewer_client):
    assert viewer_client.get("/jobs/999999/").status_code == 404


# --- roles: sync, refresh, track ----------------------------------------------------------


def test_a_viewer_cannot_trigger_a_sync_refresh_a_job_or_track_jobs(viewer_client, account):
    job = make_job(account)
    with mock.patch("jobs.tasks.start_manual_sync") as start:
        assert viewer_client.post("/sync/now/", {"account": account.pk}).status_code == 403
        assert viewer_client.post(f"/jobs/{job.pk}/refresh/").status_code == 403
        assert viewer_client.get("/track/").status_code == 403
        assert viewer_client.post("/track/", {"account": account.pk, "ids": "abc"}).status_code == 403
    start.assert_not_called()
    assert "Sync now" not in viewer_client.get("/sync/").content.decode()


def test_an_operator_starts_a_sync_and_sees_its_progress(operator_client, account):
    response = operator_client.post("/sync/now/", {"account": account.pk}, **HX)
    assert response.status_code == 200
    runs = list(SyncRun.objects.filter(account=account, trigger="manual"))
    assert {r.kind for r in runs} == set(account.sync_kinds())
    assert "every 1s" in response.content.decode()
    progress_url = html.unescape(re.search(r'hx-get="([^"]+)"', response.content.decode()).group(1))
    assert operator_client.get(progress_url).status_code == 204  # nothing moved yet
    SyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(outcome="succeeded", finished_at=timezone.now(), seen=12)
    done = operator_client.get(progress_url)
    assert done.status_code == 200
    assert "every 1s" not in done.content.decode() and "Sync finished" in done.content.decode()


def test_an_operator_refreshes_one_job(operator_client, account):
    job = make_job(account)
    response = operator_client.post(f"/jobs/{job.pk}/refresh/", **HX)
    assert response.status_code == 200
    assert SyncRun.objects.filter(account=account, trigger="refresh", kind=job.kind).exists()


def test_the_sync_page_shows_recent_runs_with_errors_and_request_ids(viewer_client, account):
    make_run(
        account,
        outcome="failed",
        error_code="APIGW.0308",
        error_message="throttled",
        request_id="req-42",
        finished_at=timezone.now(),
        api_calls=7,
    )
    body = viewer_client.get("/sync/").content.decode()
    assert "APIGW.0308" in body and "req-42" in body and "throttled" in body


def test_an_operator_tracks_short_jobs(operator_client, account):
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    response = operator_client.post("/track/", {"account": account.pk, "ids": f"{a}, {b}\n{c} {a}"})
    assert response.status_code == 302
    assert set(Job.objects.filter(kind="voice_assessment").values_list("remote_id", flat=True)) == {a, b, c}
    assert SyncRun.objects.filter(account=account, kind="voice_assessment", outcome="queued").count() == 1


def test_it_refuses_ids_that_are_not_job_ids(operator_client, account):
    response = operator_client.post("/track/", {"account": account.pk, "ids": f"{uuid.uuid4()} <script>"})
    assert response.status_code == 200
    assert "“&lt;script&gt;” cannot be a short-job id" in response.content.decode()
    assert not Job.objects.exists()


# --- preferences --------------------------------------------------------------------------


def test_it_shows_times_in_the_users_time_zone(viewer_client, viewer, account):
    job = make_job(account, updated_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert "2026-03-01 12:00" in viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    response = viewer_client.post("/preferences/", {"time_zone": "Asia/Shanghai", "language": "en"})
    assert response.status_code == 302
    assert UserPreference.objects.get(user=viewer).time_zone == "Asia/Shanghai"
    assert "2026-03-01 20:00" in viewer_client.get(f"/jobs/{job.pk}/").content.decode()


def test_it_reads_the_time_zone_preference_in_a_new_session(client, viewer, account):
    UserPreference.objects.create(user=viewer, time_zone="Asia/Tokyo")
    client.force_login(viewer)
    job = make_job(account, updated_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert "2026-03-01 21:00" in client.get(f"/jobs/{job.pk}/").content.decode()


def test_it_refuses_an_unknown_time_zone(viewer_client):
    response = viewer_client.post("/preferences/", {"time_zone": "Mars/Olympus", "language": "en"})
    assert response.status_code == 200 and not UserPreference.objects.exists()


def test_it_shows_a_long_timeline_in_pages_with_totals_over_all_steps(viewer_client, account):
    job = _detail_job(account, 120)
    first = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert first.count('<li class="step') == 50 and "Show 70 more steps" in first
    more = html.unescape(re.search(r'id="more-steps"[^>]*><a[^>]*hx-get="([^"]+)"', first).group(1))
    second = viewer_client.get(more, **HX).content.decode()
    assert second.count('<li class="step') == 50 and "<html" not in second and "Show 20 more steps" in second
    ids = re.findall(r'id="ev-(\d+)"', first) + re.findall(r'id="ev-(\d+)"', second)
    assert len(set(ids)) == 100
    # Totals cover every step: 60 WAITING steps of one minute each, on the first page too.
    assert '<td class="mono">WAITING</td><td>1h 00m</td>' in first
    assert viewer_client.get(f"/jobs/{job.pk}/?after_event=x").status_code == 400
