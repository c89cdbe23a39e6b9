"""The ETA (jobs.eta, jobs.eta_models): remaining time of a job from past jobs' time in its state,
a batch's as the last of its jobs, combined parts, the model built from the cache's rows as from
plain data, stored and loaded, rebuilt by its task; the job page's "Expected to finish"."""

import math
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.conf import settings  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402
from django_celery_beat.schedulers import DatabaseScheduler  # noqa: E402

from dashboard.celery import app  # noqa: E402
from jobs import eta, tasks  # noqa: E402
from jobs.eta_models import QUANTILES, VERSION, Estimator, EtaModel  # noqa: E402
from jobs.models import JobEvent  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import DESKTOP, PHONE, SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.fixtures_ui import make_account, make_event, make_job  # noqa: E402
from tests.test_browser import browser  # noqa: E402,F401 - fixture

AV, TR = "avatar_training", "translation"
MIN = 60
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
T = NOW.timestamp()


def trained(*minutes, after=0, settled="JOB_SUCCESS", start=None):
    """Avatar traces: TRAINING for each of ``minutes``, then TRAIN_SUCCESS for ``after`` minutes
    (none when 0), then ``settled``; each job a day apart, all finished by NOW."""
    traces = []
    for i, m in enumerate(minutes):
        t = (start if start is not None else T - 30 * 86400) + i * 600
        stretches = [("TRAINING", t)]
        if after:
            stretches.append(("TRAIN_SUCCESS", t + m * MIN))
        stretches.append((settled, t + (m + after) * MIN))
        traces.append((AV, stretches))
    return traces


def model_of(traces):
    return eta.build_model(traces, T)


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    eta.forget()
    yield
    eta.forget()


# --- one job ---------------------------------------------------------------------------------


def test_a_state_that_always_lasts_ten_minutes_predicts_ten_minutes_less_its_age():
    model = model_of(trained(*[10] * 30))

    assert eta.job_remaining(AV, "TRAINING", 4 * MIN, model=model) == (6 * MIN, 6 * MIN, 6 * MIN)
    assert eta.job_remaining(AV, "TRAINING", 0, model=model) == (10 * MIN, 10 * MIN, 10 * MIN)


def test_the_time_after_the_state_counts_until_the_job_settles():
    model = model_of(trained(*[10] * 30, after=5))

    assert eta.job_remaining(AV, "TRAINING", 4 * MIN, model=model) == (11 * MIN, 11 * MIN, 11 * MIN)
    assert eta.job_remaining(AV, "TRAIN_SUCCESS", MIN, model=model) == (4 * MIN, 4 * MIN, 4 * MIN)


def test_a_job_older_than_most_past_stretches_is_read_from_the_long_ones_only():
    model = model_of(trained(*[10] * 90, *[100] * 30))

    # Young: most past jobs like it were done 10 minutes in.
    young = eta.job_remaining(AV, "TRAINING", 5 * MIN, model=model)
    # 120 survivors: 90 have 5 min to go, 30 have 95; p75 at position 89.25 of 119.
    assert young == (5 * MIN, 5 * MIN, pytest.approx(27.5 * MIN))
    # 20 minutes in, it is one of the 30 slow ones: 80 minutes to go, whatever the others did.
    assert eta.job_remaining(AV, "TRAINING", 20 * MIN, model=model) == (80 * MIN, 80 * MIN, 80 * MIN)


def test_with_few_survivors_the_longest_stretches_fill_in_as_if_the_job_left_now():
    # 24 past jobs trained 10 minutes, one 100; each then took 5 more minutes to finish.
    model = model_of(trained(*[10] * 24, 100, after=5))

    # 20 minutes in: the one survivor alone would say 85 minutes. The 19 next-longest say "5
    # minutes once it leaves TRAINING" (a floor), so the range rests on 20 jobs, not one.
    r = model.remaining(AV, "TRAINING", 20 * MIN)
    assert r == [5 * MIN] * 19 + [85 * MIN]
    assert eta.job_remaining(AV, "TRAINING", 20 * MIN, model=model) == (5 * MIN, 5 * MIN, 5 * MIN)


def test_older_than_every_past_stretch_it_has_no_estimate():
    model = model_of(trained(*[10] * 30))

    assert eta.job_remaining(AV, "TRAINING", 11 * MIN, model=model) is None


def test_a_thin_history_still_gives_a_floor_but_a_person_s_wait_does_not():
    waited = [(AV, [("WAIT_USER_CONFIRM", T - 86400), ("JOB_FINISH", T - 86400 + 3600)])] * 3
    model = model_of(trained(10, 10, after=5) + waited)

    # Three past stretches, all shorter than its age: the time after the state, as a floor.
    assert eta.job_remaining(AV, "TRAINING", 60 * MIN, model=model) == (5 * MIN, 5 * MIN, 5 * MIN)
    # Waiting on a person longer than anyone did before: it may never move.
    assert eta.job_remaining(AV, "WAIT_USER_CONFIRM", 2 * 3600, model=model) is None
    assert eta.job_remaining(AV, "WAIT_USER_CONFIRM", 1800, model=model) == (1800, 1800, 1800)


def test_a_state_never_seen_reads_every_state_of_the_kind():
    model = model_of(trained(*[10] * 30, after=5))

    # Pooled: 30 TRAINING stretches (15 min to the finish) and 30 TRAIN_SUCCESS ones (5 min).
    assert eta.job_remaining(AV, "COMPILING", 0, model=model) == (5 * MIN, 10 * MIN, 15 * MIN)


def test_no_history_means_no_estimate():
    model = model_of(trained(*[10] * 30))

    assert eta.job_remaining(TR, "Running", 0, model=model) is None
    assert eta.batch_remaining(TR, [("Running", 0), ("Submitted", 5)], model=model) == []
    assert eta.batch_remaining(AV, [], model=model) == []
    assert eta.job_remaining(AV, "TRAINING", 0, model=model_of([])) is None


def test_only_stretches_that_finished_within_the_window_and_by_now_count():
    old = trained(*[99] * 30, start=T - 100 * 86400)  # finished 100 days ago
    late = [(AV, [("TRAINING", T - 60), ("JOB_SUCCESS", T + 3600)])]  # not known at T
    model = model_of(trained(*[10] * 30) + old + late)

    assert eta.job_remaining(AV, "TRAINING", 0, model=model) == (10 * MIN, 10 * MIN, 10 * MIN)


def test_the_latest_stretches_to_finish_are_kept(monkeypatch):
    monkeypatch.setattr(eta, "KEEP", 30)
    # 30 of 10 min finished 30 days ago, 30 of 20 min a day ago: the newer ones are kept.
    model = model_of(trained(*[10] * 30) + trained(*[20] * 30, start=T - 86400))

    assert eta.job_remaining(AV, "TRAINING", 0, model=model) == (20 * MIN, 20 * MIN, 20 * MIN)


def test_a_failed_review_is_a_finish_and_a_resubmission_starts_again():
    stretches = [
        ("AUTO_VERIFYING", T - 5000),
        ("AUTO_VERIFY_FAILED", T - 4000),  # failed: settled
        ("AUTO_VERIFYING", T - 3000),
        ("MANUAL_VERIFYING", T - 2900),
        ("JOB_SUCCESS", T - 1000),
    ]

    pairs = list(eta.stretch_pairs(AV, stretches, T))

    # (state, seconds in it, seconds to the next finish, when that finish was)
    assert pairs == [
        ("MANUAL_VERIFYING", 1900, 1900, T - 1000),
        ("AUTO_VERIFYING", 100, 2000, T - 1000),
        ("AUTO_VERIFYING", 1000, 1000, T - 4000),
    ]


def parked(n, waited_days=8):
    """Avatar traces: TRAINING for 10 minutes, then waiting for the user's confirmation since
    ``waited_days`` ago."""
    t = T - waited_days * 86400
    return [(AV, [("TRAINING", t - 600), ("WAIT_USER_CONFIRM", t)])] * n


def test_a_job_waiting_on_a_person_for_a_week_is_taken_to_stay():
    assert list(eta.stretch_pairs(AV, parked(1)[0][1], T)) == [
        ("WAIT_USER_CONFIRM", 8 * 86400, math.inf, T - 86400),  # parked a day ago: 7 days in
        ("TRAINING", 600, math.inf, T - 86400),
    ]
    assert list(eta.stretch_pairs(AV, parked(1, waited_days=6)[0][1], T)) == []  # may go on yet


def test_jobs_that_end_up_parked_leave_the_finish_of_the_others_alone():
    # 30 past jobs trained 10 minutes and finished; 10 trained 10 minutes and were left waiting.
    model = model_of(trained(*[10] * 30) + parked(10))

    assert eta.job_remaining(AV, "TRAINING", 0, model=model) == (10 * MIN, 10 * MIN, 10 * MIN)
    # One job: a quarter of jobs like it never finish, so a quarter of the time there is nothing
    # to wait for; otherwise it is done in 10 minutes.
    one = eta.batch_remaining(AV, [("TRAINING", 0)], model=model)
    assert one[:5] == [0.0] * 5
    assert one[5:] == pytest.approx([10 * MIN] * 14, rel=0.05)
    # Waiting on the user for 4 days, longer than any job that went on: nothing to estimate.
    assert eta.job_remaining(AV, "WAIT_USER_CONFIRM", 4 * 86400, model=model) is None
    assert eta.batch_remaining(AV, [("WAIT_USER_CONFIRM", 4 * 86400)], model=model) == []


# --- batches ---------------------------------------------------------------------------------


def test_a_batch_ends_with_its_last_job_not_after_the_sum():
    model = model_of(trained(*[60] * 30))

    q = eta.batch_remaining(AV, [("TRAINING", 0), ("TRAINING", 0)], model=model)

    assert len(q) == len(QUANTILES) == 19
    assert q[9] == pytest.approx(3600, rel=0.03)  # not 7200: the two run side by side
    assert q == sorted(q)


def test_a_batch_is_the_maximum_of_independent_jobs():
    # Past jobs trained 1, 2, ..., 40 minutes: for two fresh jobs P(both done by t) = F(t)^2,
    # so the batch's median is the single job's 70.7th percentile: 1 + 0.7071 * 39 minutes.
    model = model_of(trained(*range(1, 41)))

    q = eta.batch_remaining(AV, [("TRAINING", 0), ("TRAINING", 0)], model=model)
    single = eta.job_remaining(AV, "TRAINING", 0, model=model)

    assert q[9] == pytest.approx((1 + 0.5**0.5 * 39) * MIN, rel=0.02)
    assert single[1] == pytest.approx(20.5 * MIN)
    one = eta.batch_remaining(AV, [("TRAINING", 0)], model=model)
    assert (one[4], one[9], one[14]) == pytest.approx(single, rel=0.02)  # one job: its own range


def test_the_slowest_job_decides_and_jobs_without_an_estimate_are_left_out():
    model = model_of(trained(*[10] * 30, *[100] * 30))

    slow = eta.batch_remaining(AV, [("TRAINING", 20 * MIN)], model=model)
    mixed = eta.batch_remaining(
        AV, [("TRAINING", 20 * MIN), ("TRAINING", 0), ("TRAINING", 0), ("TRAINING", 200 * MIN)], model=model
    )

    assert slow[9] == pytest.approx(80 * MIN, rel=0.03)
    # The fresh jobs may be slow ones too (then up to 100 min); the job past every stretch is out.
    assert mixed[9] >= slow[9]
    assert mixed[-1] == pytest.approx(100 * MIN, rel=0.05)  # to within a step of the grid
    assert eta.batch_remaining(AV, [("TRAINING", 200 * MIN)], model=model) == []


# --- combine ---------------------------------------------------------------------------------

UNIFORM_HOUR = [3600 * q for q in QUANTILES]  # uniform over 0-60 minutes


def test_combine_gives_the_quantiles_of_the_max_of_its_parts():
    q = eta.combine([UNIFORM_HOUR, UNIFORM_HOUR])

    # P(max <= t) = (t / 3600)^2: its q-quantile is 3600 * sqrt(q).
    assert q == pytest.approx([3600 * p**0.5 for p in QUANTILES], rel=0.01)


def test_combine_of_one_part_or_none():
    assert eta.combine([UNIFORM_HOUR]) == UNIFORM_HOUR
    assert eta.combine([UNIFORM_HOUR, []]) == UNIFORM_HOUR
    assert eta.combine([]) == []
    assert eta.combine([[], []]) == []


def test_a_part_surely_done_before_another_starts_finishing_changes_nothing():
    early = [60 * q for q in QUANTILES]  # done within about a minute
    late = [3600 + 3600 * q for q in QUANTILES]

    assert eta.combine([early, late]) == pytest.approx(late)


def test_combine_takes_parts_already_due():
    done = [0.0] * 19

    assert eta.combine([done, done]) == [0.0] * 19
    assert eta.combine([done, UNIFORM_HOUR]) == pytest.approx(UNIFORM_HOUR)


# --- the stored model ------------------------------------------------------------------------


def _history(account, tencent):
    """Settled jobs with events as the sync leaves them, and the stretches they stand for."""
    at = NOW - timedelta(days=2)
    m = timedelta(minutes=1)
    # Seen a minute after its creation: its first state is the first change's from_state.
    seen_early = make_job(
        account, state="JOB_SUCCESS", created_at=at, first_seen_at=at + m, state_changed_at=at + 50 * m
    )
    for t, before, after in [
        (10, "WAIT_FILE_UPLOAD", "AUTO_VERIFYING"),
        (12, "AUTO_VERIFYING", "TRAINING"),
        (40, "TRAINING", "TRAINING"),  # seen again: its stretch goes on
        (50, "TRAINING", "JOB_SUCCESS"),
    ]:
        make_event(seen_early, at + t * m, to_state=after, from_state=before, source=JobEvent.Source.OBSERVED)
    make_event(seen_early, at + 11 * m, action="USER_VERIFYING_SUBMITTED")  # an op-log entry: no state
    # First seen long after its creation: its first state's start is unknown.
    seen_late = make_job(
        account, state="TRAIN_FAILED", created_at=at, first_seen_at=at + 300 * m, state_changed_at=at + 400 * m
    )
    make_event(seen_late, at + 400 * m, to_state="TRAIN_FAILED", from_state="TRAINING", source="observed")
    # Translation: the vendor's times, and a change the sync saw after the start it reports.
    translated = make_job(
        tencent,
        kind=TR,
        state="Success",
        created_at=at,
        first_seen_at=at,
        started_at=at + 2 * m,
        finished_at=at + 30 * m,
        state_changed_at=at + 30 * m,
    )
    make_event(translated, at + 5 * m, to_state="Running", from_state="Submitted", source="observed")
    # Waiting on the user's confirmation for 8 days: parked, read; for 2 days: it may go on.
    for days in (8, 2):
        since = NOW - timedelta(days=days)
        waiting = make_job(
            account,
            state="WAIT_USER_CONFIRM",
            created_at=since - 20 * m,
            first_seen_at=since - 19 * m,
            state_changed_at=since,
        )
        make_event(waiting, since, to_state="WAIT_USER_CONFIRM", from_state="TRAINING", source="observed")
    # Not read: unfinished, or settled before the window.
    make_job(account, state="TRAINING", created_at=at, state_changed_at=at)
    old = NOW - timedelta(days=100)
    make_job(account, state="JOB_SUCCESS", created_at=old, first_seen_at=old, state_changed_at=old)
    s = at.timestamp()
    return [
        (AV, [("WAIT_FILE_UPLOAD", s), ("AUTO_VERIFYING", s + 600), ("TRAINING", s + 720), ("JOB_SUCCESS", s + 3000)]),
        (AV, [("TRAIN_FAILED", s + 24000)]),
        (TR, [("Submitted", s), ("Running", s + 120), ("Success", s + 1800)]),
        (AV, [("TRAINING", T - 8 * 86400 - 1200), ("WAIT_USER_CONFIRM", T - 8 * 86400)]),
    ]


@pytest.fixture
def history(db):
    return _history(make_account("hw"), make_account("tc", provider="tencent"))


def test_the_cache_s_events_and_times_become_stretches(history):
    found = [trace for kind in (AV, TR, "voice_training") for trace in eta.db_traces(kind, NOW)]

    assert sorted(found) == sorted(history)


def test_the_model_built_from_the_cache_equals_the_one_from_plain_data(history):
    plain = eta.build_model(history, T)

    built = eta.rebuild_model(NOW)

    for kind in (AV, TR, "voice_training", "voice_assessment"):
        assert built.data(kind) == plain.data(kind)
    assert built.data(AV)["states"]["TRAINING"] == [[1200, None], [2280, 2280]]
    assert built.data(TR)["states"] == {"Running": [[1680, 1680]], "Submitted": [[120, 1800]]}
    assert dict(EtaModel.objects.values_list("kind", "jobs_read")) == {
        AV: 3,
        TR: 1,
        "voice_training": 0,
        "voice_assessment": 0,
    }


def test_the_stored_form_is_versioned():
    # Changing what data() writes means bumping VERSION: stored rows of another version are
    # rebuilt rather than misread.
    model = model_of(trained(10.2, 30, after=5) + parked(1))

    assert VERSION == 1
    assert model.data(AV) == {
        "version": 1,
        "states": {
            "TRAINING": [[600, None], [612, 912], [1800, 2100]],  # None: parked, never finished
            "TRAIN_SUCCESS": [[300, 300], [300, 300]],
            "WAIT_USER_CONFIRM": [[691200, None]],
        },
    }


@time_machine.travel(NOW, tick=False)
def test_a_stored_model_is_loaded_once_and_answers_as_built(history, django_assert_num_queries):
    built = eta.rebuild_model()
    eta.forget()  # as in another process

    loaded = eta.current_model()

    assert loaded is not built
    for kind in (AV, TR):
        assert loaded.data(kind) == built.data(kind)
    assert loaded.remaining(AV, "TRAINING", 60) == built.remaining(AV, "TRAINING", 60)
    with django_assert_num_queries(1):  # which rows are stored: the same, so no decoding
        assert eta.current_model() is loaded


@time_machine.travel(NOW, tick=False)
def test_it_builds_the_model_when_none_is_stored(history):
    model = eta.current_model()

    assert EtaModel.objects.count() == 4
    assert model.data(AV)["states"]["TRAINING"] == [[1200, None], [2280, 2280]]


def test_a_model_a_day_old_or_of_another_version_is_rebuilt(history):
    with time_machine.travel(NOW, tick=False):
        eta.rebuild_model()
        first = set(EtaModel.objects.values_list("build_id", flat=True))
        eta.current_model()
    with time_machine.travel(NOW + timedelta(hours=23), tick=False):
        eta.current_model()
        assert set(EtaModel.objects.values_list("build_id", flat=True)) == first
    with time_machine.travel(NOW + timedelta(hours=25), tick=False):
        eta.current_model()
        second = set(EtaModel.objects.values_list("build_id", flat=True))
        assert second != first
        EtaModel.objects.filter(kind=TR).update(version=VERSION + 1)
        eta.current_model()
        assert set(EtaModel.objects.values_list("build_id", flat=True)) != second
        assert set(EtaModel.objects.values_list("version", flat=True)) == {VERSION}


@time_machine.travel(NOW, tick=False)
def test_a_rebuild_by_another_worker_is_picked_up(history):
    mine = eta.current_model()
    EtaModel.objects.filter(kind=AV).update(build_id="another", data={"version": 1, "states": {}})

    theirs = eta.current_model()

    assert theirs is not mine
    assert theirs.data(AV)["states"] == {}


@time_machine.travel(NOW, tick=False)
def test_the_rebuild_task_stores_the_model(history):
    assert tasks.rebuild_eta_model() == 7  # stretches kept: 3 + 2 parked avatar, 2 translation
    assert EtaModel.objects.count() == 4


def test_beat_rebuilds_it_every_hour(db):
    entry = settings.CELERY_BEAT_SCHEDULE["Rebuild the ETA model"]

    DatabaseScheduler.Entry.from_entry("Rebuild the ETA model", app=app, **entry)

    task = PeriodicTask.objects.get(name="Rebuild the ETA model")
    assert task.task == "jobs.rebuild_eta_model" in app.tasks
    assert (task.interval.every, task.interval.period) == (3600, "seconds")


def test_an_estimator_round_trips_through_its_data():
    model = model_of(trained(*range(1, 41), after=3) + parked(5))

    again = Estimator.from_data({AV: model.data(AV)}, eta.WAITING)

    assert again.data(AV) == model.data(AV)
    assert again.batch(AV, [("TRAINING", 60)] * 3) == model.batch(AV, [("TRAINING", 60)] * 3)


# --- the job page ----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_the_job_page_shows_when_an_unfinished_job_should_finish(viewer_client, account):
    # 30 past jobs trained 10, 20 or 30 minutes: p25/p50/p75 of a fresh one are 10/20/30 min;
    # 30 past jobs waited a day for the user's confirmation.
    confirmed = [(AV, [("WAIT_USER_CONFIRM", T - 3 * 86400), ("JOB_FINISH", T - 2 * 86400)])] * 30
    store(model_of(trained(*[10, 20, 30] * 10) + confirmed))
    running = make_job(account, state="TRAINING", state_changed_at=NOW)
    waiting = make_job(account, state="WAIT_USER_CONFIRM", state_changed_at=NOW)
    done = make_job(account, state="JOB_SUCCESS", state_changed_at=NOW)
    no_history = make_job(account, kind="voice_training", state="PROCESSING", state_changed_at=NOW)

    assert 'Expected to finish</dt><dd id="job-eta">about 12:20 (12:10–12:30)' in page(viewer_client, running)
    assert "about 2026-12-07 12:00 (2026-12-07 12:00–2026-12-07 12:00)" in page(viewer_client, waiting)
    for job in (done, no_history):
        assert "Expected to finish" not in page(viewer_client, job)


def test_the_job_page_never_builds_the_model(viewer_client, account, history):
    running = make_job(account, state="TRAINING")

    assert "Expected to finish" not in page(viewer_client, running)
    assert not EtaModel.objects.exists()  # the hourly task (or a sync's roll-up) builds it
    assert eta.stored_model() is None


def store(model):
    EtaModel.objects.bulk_create(
        EtaModel(kind=kind, build_id="b", data=model.data(kind))
        for kind in (AV, TR, "voice_training", "voice_assessment")
    )


def page(client, job):
    return client.get(reverse("job_detail", args=[job.pk])).content.decode()


def in_a_browser(test):
    for mark in test_browser.pytestmark:  # browser, slow, transactional database; skip without Chromium
        test = mark(test)
    return test


@in_a_browser
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", SIZES)
def test_the_expected_finish_reads_on_a_desktop_and_a_phone(browser, live_server, size, lang):  # noqa: F811
    store(model_of(trained(*[10, 20, 30] * 10)))
    job = make_job(make_account("hw"), state="TRAINING", state_changed_at=timezone.now())

    pg = open_page(browser, live_server, size=size, lang=lang)
    pg.goto(f"{pg.base}/jobs/{job.pk}/")
    line = pg.locator("#job-eta")
    line.wait_for()
    shot_as(pg, f"job-eta-{size}-{lang}")

    # about 12:20 (12:10–12:30), dates before the times only across midnight
    when = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d"
    assert re.search(rf"{when} ?[(（]{when}–{when}[)）]", line.inner_text())  # zh: full-width brackets
    assert page_width(pg) <= (PHONE if size == "phone" else DESKTOP)["width"]
    assert pg.errors == []
