"""Issue #12 on the job page: the timeline's time in each state (12), Started/Finished/Duration
(8), the overall advice that exists only in Chinese (10), the margin of one-sided limits in the
assessment chart (13) and "Refresh this job" with its own progress and fields swapped in place (7).
"""

import html
import re
from datetime import timedelta

import pytest
from django.test.utils import override_settings
from django.utils import timezone, translation

from jobs import timelines
from jobs.models import AssessmentMetric, JobEvent, SyncRun
from jobs.templatetags.dashboard import assessment_chart
from tests.fixtures_ui import make_assessment, make_event, make_job

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
OBSERVED = JobEvent.Source.OBSERVED


def totals(tl):
    return {label: spent for label, spent, _stuck in tl.totals}


# --- time in each state --------------------------------------------------------------------


def test_it_counts_time_in_observed_states_only_not_op_log_actions(account):
    now = timezone.now()
    t0 = now - timedelta(days=1)
    job = make_job(account, state="TRAINING")
    events = [
        make_event(job, t0, action="SYSTEM_TRAIN_DATA_PREPROCESSING"),
        make_event(job, t0 + timedelta(seconds=58), source=OBSERVED, to_state="TRAINING_DATA_PREPROCESSING"),
        make_event(job, t0 + timedelta(seconds=58), action="SYSTEM_TRAIN_DATA_PREPROCESS_SUCCESS"),
        make_event(job, t0 + timedelta(hours=1), source=OBSERVED, to_state="TRAINING"),
        make_event(job, t0 + timedelta(hours=2), action="SYSTEM_TRAINING"),
    ]
    tl = timelines.timeline(job, events, now)
    assert len(tl.steps) == 5  # every entry is still a step of the timeline
    # The op-log after TRAINING does not end it: a running job's state lasts until now.
    assert totals(tl) == {
        "TRAINING_DATA_PREPROCESSING": timedelta(hours=1) - timedelta(seconds=58),
        "TRAINING": timedelta(hours=23),
    }


@override_settings(STUCK_LIMIT_HOURS={"voice_training:*": 2.5})
def test_it_merges_a_state_seen_again_and_shows_no_zero_rows(account):
    now = timezone.now()
    t0 = now - timedelta(days=2)
    job = make_job(account, kind="voice_training", state="SUCCEED")
    events = [
        make_event(job, t0, source=OBSERVED, to_state="WAITING"),
        make_event(job, t0 + timedelta(hours=1), source=OBSERVED, to_state="PROCESSING"),
        make_event(job, t0 + timedelta(hours=1), source=OBSERVED, to_state="SPLITTING"),  # no time in PROCESSING
        make_event(job, t0 + timedelta(hours=2), source=OBSERVED, to_state="SPLITTING"),  # the same state again
        make_event(job, t0 + timedelta(hours=5), source=OBSERVED, to_state="SUCCEED"),
    ]
    tl = timelines.timeline(job, events, now)
    assert tl.totals == [
        ("WAITING", timedelta(hours=1), False),
        # One stretch of 4 h, over the 2.5 h limit (two steps of 1 h and 3 h were not).
        ("SPLITTING", timedelta(hours=4), True),
    ]
    assert tl.steps[2].stuck and not tl.steps[3].stuck


def test_a_translation_job_gets_its_timeline_from_its_created_started_and_finished_times(account):
    t0 = timezone.now() - timedelta(days=1)
    job = make_job(
        account,
        kind="translation",
        state="Success",
        created_at=t0,
        started_at=t0 + timedelta(minutes=5),
        finished_at=t0 + timedelta(minutes=35),
    )
    tl = timelines.timeline(job, [], timezone.now())
    assert [(s.label, s.event.source) for s in tl.steps] == [
        ("Submitted", "created"),
        ("Running", "started"),
        ("Success", "finished"),
    ]
    assert tl.totals == [("Submitted", timedelta(minutes=5), False), ("Running", timedelta(minutes=30), False)]
    assert tl.total == timedelta(minutes=35)


def test_a_running_translation_lasts_until_now_and_merges_with_an_observed_change(account):
    now = timezone.now()
    t0 = now - timedelta(hours=3)
    job = make_job(account, kind="translation", state="Running", created_at=t0, started_at=t0 + timedelta(hours=1))
    seen = make_event(job, t0 + timedelta(hours=2), source=OBSERVED, to_state="Running")
    tl = timelines.timeline(job, [seen], now)
    assert len(tl.steps) == 3 and tl.steps[-1].current
    assert totals(tl) == {"Submitted": timedelta(hours=1), "Running": timedelta(hours=2)}


def test_the_job_page_shows_the_time_in_each_state_and_the_known_times(viewer_client, account):
    t0 = timezone.now() - timedelta(days=1)
    started, finished = t0 + timedelta(minutes=5), t0 + timedelta(hours=1, minutes=17)
    job = make_job(
        account, kind="translation", state="Success", created_at=t0, started_at=started, finished_at=finished
    )
    body = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<td class="mono">Running</td><td>1h 12m</td>' in body
    assert body.count('<li class="step') == 3 and '<span class="tag">Started</span>' in body
    fields = body[body.index('id="h-fields"') : body.index('id="h-timeline"')]
    assert f'<time datetime="{started.isoformat()}">' in fields and "<dt>Duration</dt><dd>1h 12m</dd>" in fields


def test_it_leaves_started_finished_and_duration_out_when_unknown(viewer_client, account):
    body = viewer_client.get(f"/jobs/{make_job(account).pk}/").content.decode()
    assert "<dt>Started</dt>" not in body and "<dt>Duration</dt>" not in body


# --- the assessment ------------------------------------------------------------------------


def test_it_says_when_the_overall_advice_exists_only_in_chinese(viewer_client, account):
    job = make_job(account, kind="voice_assessment", state="SUCCEED")
    make_assessment(job, suggestion="音频质量良好，满足训练要求。")
    english = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    overall = re.search(r'<p class="overall">.*?</p>', english, re.S).group()
    assert '<span lang="zh">音频质量良好，满足训练要求。</span>' in overall and "(Chinese only)" in overall
    viewer_client.cookies["django_language"] = "zh-hans"
    chinese = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'lang="zh">音频' not in chinese and "音频质量良好" in chinese


def _x(svg, n):
    """The x of the n-th actual-value dot."""
    return float(re.findall(r'<circle cx="([\d.]+)"', svg)[n])


def test_the_chart_shows_how_far_a_value_is_from_a_one_sided_limit():
    def metric(actual, status):
        return AssessmentMetric(metric="snr", expected=">=35.0", actual=actual, status=status)

    with translation.override("en"):
        svg = str(assessment_chart([metric("41.68", 0), metric("36.00", 0), metric("14.00", -1)]))
    far, near, below = _x(svg, 0), _x(svg, 1), _x(svg, 2)
    limits = [
        float(x) for x in re.findall(r'<line x1="([\d.]+)" x2="[\d.]+" y1="[\d.]+" y2="[\d.]+" class="limit"', svg)
    ]
    assert len(limits) == 3 and len(set(limits)) == 1  # the limit is marked, at one place on every row
    # Both in range, at their distance from the limit (a scale fitted to each pair put them together).
    assert below + 50 < limits[0] < near < far - 30
    assert "41.68: 6.68 above the limit &gt;=35.0" in svg and "14.00: 21 below the limit &gt;=35.0" in svg


def test_the_chart_keeps_two_sided_ranges_as_a_band():
    with translation.override("en"):
        svg = str(assessment_chart([AssessmentMetric(metric="speed", expected="3.0-5.5", actual="2.11", status=1)]))
    assert 'class="band"' in svg and 'class="limit"' not in svg and "⚠ Out of range" in svg


# --- refresh this job ----------------------------------------------------------------------


def _poll_url(body):
    return html.unescape(re.search(r'hx-get="([^"]+)"', body).group(1))


def test_refresh_shows_its_own_progress_then_swaps_the_fields_in_place(operator_client, account):
    job = make_job(account, name="old name", state="TRAINING")
    started = operator_client.post(f"/jobs/{job.pk}/refresh/", **HX)
    body = started.content.decode()
    assert started.status_code == 200 and "Refreshing this job" in body
    assert "/sync/" not in body and "pages" not in body and "<html" not in body
    poll = _poll_url(body)
    assert poll.startswith(f"/jobs/{job.pk}/refresh/?") and "every 1s" in body
    assert operator_client.get(poll, **HX).status_code == 204  # nothing moved yet

    run = SyncRun.objects.get(trigger="refresh")
    job.__class__.objects.filter(pk=job.pk).update(name="new name", state="JOB_SUCCESS", status="succeeded")
    SyncRun.objects.filter(pk=run.pk).update(outcome="succeeded", finished_at=timezone.now())
    done = operator_client.get(poll, **HX)
    body = done.content.decode()
    assert done.status_code == 200 and "every 1s" not in body and "Refreshed at" in body
    assert "/sync/" not in body and "pages" not in body
    assert '<h1 id="job-title" hx-swap-oob="true">new name</h1>' in body
    assert 'id="job-badges" hx-swap-oob="true"' in body and "JOB_SUCCESS" in body
    assert '<div id="job-body" hx-swap-oob="true">' in body and 'id="job-fields"' in body


def test_refresh_says_when_it_failed_and_stops_polling_when_its_run_is_gone(operator_client, account):
    job = make_job(account)
    poll = _poll_url(operator_client.post(f"/jobs/{job.pk}/refresh/", **HX).content.decode())
    SyncRun.objects.update(outcome="failed", error_code="APIGW.0308", error_message="throttled")
    failed = operator_client.get(poll, **HX).content.decode()
    assert "The refresh failed" in failed and "throttled" in failed
    SyncRun.objects.all().delete()
    gone = operator_client.get(poll, **HX)
    assert gone.status_code == 286 and "no longer recorded" in gone.content.decode()


def test_a_viewer_cannot_poll_a_refresh(viewer_client, account):
    job = make_job(account)
    assert viewer_client.get(f"/jobs/{job.pk}/refresh/?run=1&v=queued", **HX).status_code == 403
