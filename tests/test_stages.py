"""Stage analytics (jobs.stages, jobs.stage_models, jobs.stage_reads, /stages/): stretches are the
job page's time in state, the summary the sync keeps equals one rebuilt from the events, and the
page's percentiles, jobs in it now, finished per day and jobs per state per day match counts
made by hand. Also the CSVs, the filters, the sync's writes, a job gone or deleted, the
rebuildstages command, migration 0020's backfill and the job page's Gantt strip."""

import csv
import importlib
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from jobs import stage_reads, stages, sync, timelines
from jobs.models import Job
from jobs.stage_models import HIST_SIZE, JobStage, StageDay, StageNow, bucket, encode, merge, middle, percentile
from tests.fixtures_sync import StubProvider, make_record
from tests.fixtures_ui import make_account, make_event, make_job

pytestmark = pytest.mark.db_sensitive  # also on PostgreSQL: upserts, raw reads of dates and JSON

AV, VT, TR = "avatar_training", "voice_training", "translation"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday noon, UTC
TODAY = NOW.date()
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def near(value: timedelta, expected: timedelta) -> bool:
    """Within the histogram's 4.5 % (jobs.stage_models: a bucket's middle stands for it)."""
    return abs(value.total_seconds() - expected.total_seconds()) <= 0.045 * expected.total_seconds()


def day(n: int) -> date:
    return TODAY - timedelta(days=n)


def moved(job, *changes):
    """Observed state changes (time, state) of ``job``, then its stretches rewritten as the
    sync would after writing them."""
    for at, state in changes:
        make_event(job, at, to_state=state, source="observed")
    stages.restage([job.pk], now=NOW)


def stretches_of(job):
    return list(JobStage.objects.filter(job=job).order_by("entered_at").values_list("state", "end", "seconds"))


def stats(rep):
    return {(s.kind, s.state): s for s in rep.stats}


def levels(rep):
    return {(row.kind, row.state): row.values for row in rep.levels}


def summary():
    """Every summary row, comparable."""
    days = sorted(
        StageDay.objects.values_list(
            "account_id", "kind", "state", "day", "entries", "exits", "lost", "finishes", "hist"
        )
    )
    return days, sorted(StageNow.objects.values_list("account_id", "kind", "state", "jobs", "oldest"))


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def hw(db):
    return make_account("hw-stages")


# --- stretches: the job page's time in state -----------------------------------------------


def test_stretches_are_the_timelines_time_in_each_state(hw, clock):
    t0 = NOW - 3 * H
    job = make_job(hw, AV, state="JOB_SUCCESS")
    make_event(job, t0 + 10 * M, action="USER_SUBMIT")  # an op-log entry: no state, no stretch
    moved(
        job, (t0, "AUTO_VERIFYING"), (t0 + 20 * M, "TRAINING"), (t0 + 50 * M, "TRAINING"), (t0 + 80 * M, "JOB_SUCCESS")
    )

    assert stretches_of(job) == [
        ("AUTO_VERIFYING", "left", 1200.0),
        ("TRAINING", "left", 3600.0),  # seen twice, one stretch of 60 minutes
        ("JOB_SUCCESS", "final", None),
    ]
    tl = timelines.timeline(job, timelines.job_events(job), NOW)
    assert [(state, spent.total_seconds()) for state, spent, _ in tl.totals] == [
        ("AUTO_VERIFYING", 1200.0),
        ("TRAINING", 3600.0),
    ]


def test_a_job_still_in_a_state_has_an_open_stretch_counted_as_in_it_now_not_in_percentiles(hw, clock):
    job = make_job(hw, AV, state="TRAINING")
    moved(job, (NOW - 3 * H, "AUTO_VERIFYING"), (NOW - 2 * H - 40 * M, "TRAINING"))

    assert stretches_of(job) == [("AUTO_VERIFYING", "left", 1200.0), ("TRAINING", "open", None)]
    rep = stage_reads.report(None, [], timedelta(days=7), NOW)
    training = stats(rep)[(AV, "TRAINING")]
    assert (training.left, training.p50, training.p95) == (0, None, None)
    assert (training.now, training.longest) == (1, 2 * H + 40 * M)
    verifying = stats(rep)[(AV, "AUTO_VERIFYING")]
    assert (verifying.left, verifying.now) == (1, 0) and near(verifying.p50, 20 * M)


def test_two_changes_at_one_instant_make_no_stretch_of_their_own(hw, clock):
    job = make_job(hw, AV, state="TRAINING")
    moved(job, (NOW - H, "AUTO_VERIFYING"), (NOW - 30 * M, "MANUAL_VERIFYING"), (NOW - 30 * M, "TRAINING"))

    assert stretches_of(job) == [("AUTO_VERIFYING", "left", 1800.0), ("TRAINING", "open", None)]


def test_a_translation_has_stretches_from_its_own_times(db, clock):
    ci = make_account("ci", provider="tencent")
    job = make_job(ci, TR, state="Success", created_at=NOW - 2 * H, started_at=NOW - 90 * M, finished_at=NOW - 30 * M)
    stages.restage([job.pk], now=NOW)

    assert stretches_of(job) == [("Submitted", "left", 1800.0), ("Running", "left", 3600.0), ("Success", "final", None)]


def test_a_job_first_seen_in_a_state_has_no_stretch_for_it(hw, clock):
    job = make_job(hw, AV, state="TRAINING")  # no event entered it
    stages.restage([job.pk], now=NOW)

    assert stretches_of(job) == []


# --- percentiles and windows -------------------------------------------------------------


def test_percentiles_are_the_nearest_rank_of_the_stays_counted_by_hand(hw, clock):
    # Five TRAINING stays of 1, 2, 3, 4 and 10 minutes that ended today: p50 is the 3rd
    # (3 minutes), p95 the 5th (10 minutes), each read as its bucket's middle.
    for minutes in (1, 2, 3, 4, 10):
        job = make_job(hw, AV, state="TRAIN_FAILED")
        moved(job, (NOW - H - minutes * M, "TRAINING"), (NOW - H, "TRAIN_FAILED"))
    training = stats(stage_reads.report(None, [], timedelta(days=7), NOW))[(AV, "TRAINING")]

    assert training.left == 5
    assert training.p50 == timedelta(seconds=round(middle(bucket(180)))) and near(training.p50, 3 * M)
    assert training.p95 == timedelta(seconds=round(middle(bucket(600)))) and near(training.p95, 10 * M)


def test_histograms_are_stored_compact_and_merge_by_bucket():
    # 100 s and 104 s share bucket 54 ([98.7, 107.6) s); 180 s is in bucket 60.
    assert bucket(100) == bucket(104) == 54 and bucket(180) == 60
    assert encode({54: 2, 60: 1}) == [54, 2, 0, 0, 0, 0, 0, 1]
    dense = [0] * HIST_SIZE
    merge(dense, encode({54: 2, 60: 1}))
    merge(dense, encode({60: 1}))
    merge(dense, [])
    assert (dense[54], dense[60], sum(dense)) == (2, 2, 4)
    assert percentile(dense, 50) == middle(54) and percentile(dense, 95) == middle(60)
    assert all(abs(middle(bucket(v)) - v) <= 0.045 * v for v in (1.5, 100, 104, 180, 86_399))
    assert percentile([0] * HIST_SIZE, 50) is None


@pytest.mark.parametrize(
    "seconds, expected", [(0.2, 0), (1, 1), (2, 9), (60, 48), (3600, 95), (86400, 132), (10**12, HIST_SIZE - 1)]
)
def test_the_histogram_buckets_stay_where_stored_summaries_expect_them(seconds, expected):
    # StageDay.hist holds these numbers: a change here needs `manage.py rebuildstages`.
    assert bucket(seconds) == expected


def test_the_window_counts_stays_that_ended_in_it_to_the_minute(hw, clock):
    # 24 hours back from Sunday noon is Saturday noon: Saturday's part comes from the stretches.
    for ended in (NOW - 25 * H, NOW - 23 * H, NOW - 11 * H, NOW - 3 * D, NOW - 20 * D):
        job = make_job(hw, AV, state="TRAIN_FAILED")
        moved(job, (ended - 5 * M, "TRAINING"), (ended, "TRAIN_FAILED"))

    def left(window):
        return stats(stage_reads.report(None, [], window, NOW))[(AV, "TRAINING")].left

    assert (left(timedelta(hours=24)), left(timedelta(days=7)), left(timedelta(days=30))) == (2, 4, 5)


# --- per day: finished and jobs in each state --------------------------------------------


def test_jobs_in_each_state_per_day_and_finished_per_day_counted_by_hand(hw, clock):
    a = make_job(hw, AV, state="JOB_SUCCESS")
    moved(a, (NOW - 3 * D - 2 * H, "TRAINING"), (NOW - D - 2 * H, "TRAIN_SUCCESS"), (NOW - D - H, "JOB_SUCCESS"))
    b = make_job(hw, AV, state="TRAINING")
    moved(b, (NOW - 2 * D - 3 * H, "TRAINING"))
    c = make_job(hw, AV, state="TRAIN_FAILED")
    moved(c, (NOW - 5 * H, "TRAINING"), (NOW - 4 * H, "TRAIN_FAILED"))

    rep = stage_reads.report(None, [], timedelta(days=7), NOW)

    assert rep.days == [day(n) for n in range(7, -1, -1)]
    # TRAINING at the end of each day: a from day -3 to -1, b from day -2 on, c within today.
    assert levels(rep) == {(AV, "TRAINING"): [0, 0, 0, 0, 1, 2, 1, 1]}  # TRAIN_SUCCESS: within one day
    assert [row.peak for row in rep.levels] == [2]
    per_day = dict(rep.finished_per_day())
    assert per_day[day(1)] == {"succeeded": 1}
    assert per_day[TODAY] == {"failed": 1}
    assert sum(sum(c.values()) for c in per_day.values()) == 2


@pytest.mark.parametrize("window", ["24h", "7d", "30d", "90d"])
def test_the_summary_answers_what_counting_every_stretch_answers(hw, clock, window):
    # 60 jobs moving through states at random over 100 days (seeded): whole weeks, days, the
    # window's partial first day and stays still going, against a count over every stretch.
    import random

    rnd = random.Random(5)
    states = ["AUTO_VERIFYING", "MANUAL_VERIFYING", "TRAINING", "COMPILING"]
    for _ in range(60):
        at, changes = NOW - timedelta(days=rnd.uniform(1, 100)), []
        for _ in range(rnd.randint(1, 5)):
            changes.append((at, rnd.choice(states)))
            at += timedelta(hours=rnd.uniform(0.1, 200))
        final = rnd.choice(["JOB_SUCCESS", "TRAIN_FAILED", None])
        if final and at < NOW:
            changes.append((at, final))
        moved(make_job(hw, AV, state=final or changes[-1][1]), *[c for c in changes if c[0] < NOW])
    rep = stage_reads.report(None, [], stage_reads.WINDOWS[window], NOW)

    rows = list(JobStage.objects.values_list("state", "entered_at", "left_at", "seconds", "end"))
    ended = [(s, sec) for s, _, left, sec, end in rows if end == "left" and rep.start <= left <= NOW]
    for s in rep.stats:
        dense = [0] * HIST_SIZE
        for state, seconds in ended:
            if state == s.state:
                dense[bucket(seconds)] += 1
        assert (s.left, s.p50) == (sum(dense), stage_reads._seconds(percentile(dense, 50))), s.state
    assert {s.state for s in rep.stats if s.left} == {state for state, _ in ended}
    for row in rep.levels:
        ends = [min(datetime.combine(d + D, datetime.min.time(), UTC), NOW) for d in rep.days]
        expected = [
            sum(1 for s, entered, left, _, end in rows if s == row.state and end != "final" and entered <= t)
            - sum(1 for s, _, left, _, end in rows if s == row.state and left is not None and left <= t)
            for t in ends
        ]
        assert row.values == expected, row.state
    finished = {day: sum(per.values()) for day, per in rep.finished.items()}
    assert finished == {
        d: n
        for d in rep.days
        if (n := sum(1 for _, entered, _, _, end in rows if end == "final" and entered.date() == d))
    }


# --- the page, its filters and CSVs ------------------------------------------------------


@pytest.fixture
def two_clouds(hw, clock):
    """Avatar TRAINING stays of 10 and 30 minutes (Huawei), a translation's, one job in TRAINING."""
    ci = make_account("ci-stages", provider="tencent")
    for minutes in (10, 30):
        job = make_job(hw, AV, state="TRAIN_FAILED")
        moved(job, (NOW - 2 * H - minutes * M, "TRAINING"), (NOW - 2 * H, "TRAIN_FAILED"))
    moved(make_job(hw, AV, state="TRAINING"), (NOW - 5 * H, "TRAINING"))
    tr = make_job(ci, TR, state="Success", created_at=NOW - 3 * H, started_at=NOW - 2 * H, finished_at=NOW - H)
    stages.restage([tr.pk], now=NOW)
    return hw, ci


def test_the_page_shows_each_state_with_its_figures(viewer_client, two_clouds, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):  # the same few whatever the number of jobs or days
        response = viewer_client.get(reverse("stages"))

    assert response.status_code == 200
    rows = {(s.kind, s.state): s for s in response.context["rep"].stats}
    # States jobs ended in (TRAIN_FAILED, Success) have no stay: they count under finished.
    assert set(rows) == {(AV, "TRAINING"), (TR, "Submitted"), (TR, "Running")}
    training = rows[(AV, "TRAINING")]
    assert training.left == 2 and near(training.p50, 10 * M) and near(training.p95, 30 * M)
    assert (rows[(AV, "TRAINING")].now, rows[(AV, "TRAINING")].longest) == (1, 5 * H)
    html = response.content.decode()
    assert html.count('class="stage-row"') == 3
    assert "Jobs finished per day, by outcome" in html
    assert 'href="/jobs/?state=TRAINING&amp;kind=avatar_training&amp;sort=state_age"' in html


@pytest.mark.parametrize(
    "query, kinds",
    [
        ("kind=translation", {TR}),
        ("cloud=huawei", {AV}),
        ("account={ci}", {TR}),
        ("account={hw}&kind=translation", set()),
    ],
)
def test_filters_narrow_by_account_cloud_and_kind(viewer_client, two_clouds, query, kinds):
    hw, ci = two_clouds
    response = viewer_client.get(reverse("stages") + "?" + query.format(hw=hw.pk, ci=ci.pk))

    assert {s.kind for s in response.context["rep"].stats} == kinds


def test_the_page_needs_a_login(client, db):
    response = client.get(reverse("stages"))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_vendor_state_is_escaped_everywhere_it_is_shown(viewer_client, hw, clock):
    job = make_job(hw, AV, state="JOB_SUCCESS")
    moved(job, (NOW - 2 * H, '<img src=x onerror="alert(1)">'), (NOW - H, "JOB_SUCCESS"))

    for url in (reverse("stages"), reverse("job_detail", args=[job.pk])):
        html = viewer_client.get(url).content.decode()
        assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html, url


@pytest.mark.parametrize("query", ["window=5y", "kind=bogus", "account=abc", "table=all"])
def test_nonsense_in_the_url_is_a_400(viewer_client, db, query):
    assert viewer_client.get(reverse("stages") + "?" + query).status_code == 400


def test_each_table_has_a_csv(viewer_client, two_clouds):
    def rows(table):
        response = viewer_client.get(reverse("stages_csv") + f"?table={table}&window=7d&kind=avatar_training")
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))

    times = rows("times")
    assert times[0][:7] == ["kind", "state", "status", "window", "left_in_window", "p50_seconds", "p95_seconds"]
    training = next(row for row in times if row[:2] == [AV, "TRAINING"])
    assert training[2:5] + training[7:] == ["running", "7d", "2", "1", "18000"]
    assert (int(training[5]), int(training[6])) == (round(middle(bucket(600))), round(middle(bucket(1800))))
    finished = rows("finished")
    assert finished == [["day", "kind", "status", "jobs"], [TODAY.isoformat(), AV, "failed", "2"]]
    levels_csv = rows("levels")
    assert levels_csv[0] == ["day", "kind", "state", "status", "jobs_at_end_of_day"]
    assert [TODAY.isoformat(), AV, "TRAINING", "running", "1"] in levels_csv
    assert len(levels_csv) == 1 + 8  # one state, the 8 days the window touches


# --- kept by the sync; equal to a rebuild ------------------------------------------------


def test_the_sync_writes_stretches_as_states_change(huawei_account):
    p = StubProvider([make_record(AV, n=1, state="AUTO_VERIFYING"), make_record(AV, n=2, state="TRAINING")])
    sync.sync_account_kind(huawei_account, AV, provider=p)
    assert JobStage.objects.count() == 0  # first seen: no state entered yet

    with time_machine.travel(NOW, tick=False):
        p.replace(AV, "av-00001", state="TRAINING", updated_at=NOW - 10 * M)
        sync.sync_account_kind(huawei_account, AV, provider=p)
    with time_machine.travel(NOW + H, tick=False):
        p.replace(AV, "av-00001", state="JOB_SUCCESS", updated_at=NOW + 50 * M)
        sync.sync_account_kind(huawei_account, AV, provider=p)

    job = Job.objects.get(remote_id="av-00001")
    assert stretches_of(job) == [("TRAINING", "left", 3600.0), ("JOB_SUCCESS", "final", None)]
    assert StageDay.objects.get(state="TRAINING").exits == 1
    assert StageDay.objects.get(state="JOB_SUCCESS").finishes == 1
    incremental = summary()
    call_command("rebuildstages", stdout=io.StringIO())
    assert summary() == incremental


def test_a_failing_stage_upkeep_never_costs_the_sync_its_jobs(huawei_account, monkeypatch, caplog):
    p = StubProvider([make_record(AV, n=1, state="AUTO_VERIFYING")])
    sync.sync_account_kind(huawei_account, AV, provider=p)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the stage upkeep")

    monkeypatch.setattr(stages, "refresh_cells", broken)
    with time_machine.travel(NOW, tick=False):
        p.replace(AV, "av-00001", state="TRAINING", updated_at=NOW - M)
        run = sync.sync_account_kind(huawei_account, AV, provider=p)

    assert run.outcome == "succeeded"
    job = Job.objects.get(remote_id="av-00001")
    assert job.state == "TRAINING" and job.events.filter(to_state="TRAINING").exists()
    assert not JobStage.objects.exists()  # the stretch and its summary were undone together
    assert "rebuildstages" in caplog.text
    monkeypatch.undo()
    call_command("rebuildstages", stdout=io.StringIO())
    assert stretches_of(job) == [("TRAINING", "open", None)]


def test_the_sync_writes_a_translations_stretches_from_its_own_times(tencent_account):
    rec = make_record(TR, n=1, state="Running", created_at=NOW - 3 * H, started_at=NOW - 2 * H, updated_at=NOW - H)
    p = StubProvider([rec], kinds=(TR,))
    with time_machine.travel(NOW, tick=False):
        sync.sync_account_kind(tencent_account, TR, provider=p)
    job = Job.objects.get(remote_id=rec.remote_id)
    assert stretches_of(job) == [("Submitted", "left", 3600.0), ("Running", "open", None)]

    with time_machine.travel(NOW + H, tick=False):
        p.replace(TR, rec.remote_id, state="Success", finished_at=NOW + 30 * M, updated_at=NOW + 30 * M)
        sync.sync_account_kind(tencent_account, TR, provider=p)
    assert stretches_of(job) == [("Submitted", "left", 3600.0), ("Running", "left", 9000.0), ("Success", "final", None)]


def test_a_listing_that_moves_no_state_writes_no_stage(huawei_account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = StubProvider([make_record(AV, n=n, state="TRAINING") for n in range(1, 8)])
    with CaptureQueriesContext(connection) as first:
        sync.sync_account_kind(huawei_account, AV, provider=p)
    p.replace(AV, "av-00002", name="renamed", updated_at=NOW)  # changed, same state
    with CaptureQueriesContext(connection) as second:
        sync.sync_account_kind(huawei_account, AV, provider=p)

    touched = [q["sql"] for q in (*first.captured_queries, *second.captured_queries) if "jobstage" in q["sql"]]
    # Only a full listing's one check for open stretches of jobs gone (stages.after_run).
    assert len(touched) <= 2 and all('"end" = \'open\' AND "jobs_job"."gone"' in sql for sql in touched)
    assert Job.objects.get(remote_id="av-00002").name == "renamed"


def test_a_job_gone_while_in_a_state_leaves_it_and_is_back_when_listed_again(huawei_account):
    p = StubProvider([make_record(AV, n=1, state="AUTO_VERIFYING")])
    sync.sync_account_kind(huawei_account, AV, provider=p)
    with time_machine.travel(NOW, tick=False):
        p.replace(AV, "av-00001", state="TRAINING", updated_at=NOW - M)
        sync.sync_account_kind(huawei_account, AV, provider=p)
    job = Job.objects.get(remote_id="av-00001")
    assert stretches_of(job) == [("TRAINING", "open", None)]
    assert StageNow.objects.get(state="TRAINING").jobs == 1

    removed = p.records[AV].pop()
    with time_machine.travel(NOW + H, tick=False):
        sync.sync_account_kind(huawei_account, AV, provider=p, full=True)  # a full listing marks it gone
    assert stretches_of(job) == [("TRAINING", "lost", None)]
    assert not StageNow.objects.exists()
    assert StageDay.objects.get(state="TRAINING").lost == 1

    p.add(removed)
    with time_machine.travel(NOW + 2 * H, tick=False):
        sync.sync_account_kind(huawei_account, AV, provider=p)
    assert stretches_of(job) == [("TRAINING", "open", None)]
    assert StageNow.objects.get(state="TRAINING").jobs == 1


def test_deleting_a_job_recounts_the_days_it_counted_in(hw, clock):
    jobs = []
    for minutes in (10, 30):
        job = make_job(hw, AV, state="TRAIN_FAILED")
        moved(job, (NOW - H - minutes * M, "TRAINING"), (NOW - H, "TRAIN_FAILED"))
        jobs.append(job)

    jobs[1].delete()

    cell = StageDay.objects.get(state="TRAINING")
    assert (cell.entries, cell.exits, cell.hist) == (1, 1, [bucket(600), 1])
    assert StageDay.objects.get(state="TRAIN_FAILED").finishes == 1


def test_deleting_an_account_deletes_its_stages(hw, two_clouds):
    _, ci = two_clouds
    ci.delete()

    assert not JobStage.objects.filter(kind=TR).exists()
    assert not StageDay.objects.filter(kind=TR).exists()
    assert StageDay.objects.filter(kind=AV).exists()


def test_a_rebuild_after_a_restore_recomputes_everything_from_the_events(hw, two_clouds):
    before = summary()
    JobStage.objects.all().delete()
    StageDay.objects.all().delete()
    StageNow.objects.all().delete()

    out = io.StringIO()
    call_command("rebuildstages", stdout=out)

    assert summary() == before
    assert "hw-stages: 5 stretch(es)" in out.getvalue()  # 2 jobs with 2 stretches, 1 with one


def test_rebuildstages_names_an_unknown_account(db):
    with pytest.raises(Exception, match="no account named nope"):
        call_command("rebuildstages", "nope")


def test_the_migration_backfills_the_jobs_cached_before_it(hw, two_clouds):
    before = summary()
    JobStage.objects.all().delete()
    StageDay.objects.all().delete()
    StageNow.objects.all().delete()

    migration = importlib.import_module("jobs.migrations.0020_stage_stats")
    migration.backfill(apps, None)

    assert summary() == before


# --- the job page's Gantt strip ----------------------------------------------------------


def test_the_job_page_draws_its_stages_in_time_order(viewer_client, hw, clock):
    job = make_job(hw, AV, state="TRAINING")
    moved(job, (NOW - 4 * H, "AUTO_VERIFYING"), (NOW - 3 * H, "MANUAL_VERIFYING"), (NOW - H, "TRAINING"))

    response = viewer_client.get(reverse("job_detail", args=[job.pk]))

    g = response.context["gantt"]
    assert [(seg.stretch.state, seg.duration) for seg in g.segments] == [
        ("AUTO_VERIFYING", H),
        ("MANUAL_VERIFYING", 2 * H),
        ("TRAINING", H),  # so far
    ]
    assert [round(seg.width) for seg in g.segments] == [250, 500, 250]
    assert g.ongoing
    html = response.content.decode()
    assert html.count('<rect x="') >= 3 and 'class="gantt"' in html
    assert "1h 00m so far" in html


def test_a_settled_job_ends_its_strip_with_the_state_it_ended_in(hw, clock):
    job = make_job(hw, AV, state="JOB_SUCCESS")
    moved(job, (NOW - 2 * H, "TRAINING"), (NOW - 2 * H + 2 * M, "COMPILING"), (NOW - H, "JOB_SUCCESS"))

    g = stages.gantt(job, timelines.timeline(job, timelines.job_events(job), NOW), NOW)

    assert [seg.stretch.end for seg in g.segments] == ["left", "left", "final"]
    assert g.segments[0].width >= stages.GANTT_MIN  # 2 of 60 minutes, still visible
    assert g.segments[-1].x == pytest.approx(stages.GANTT_WIDTH + 2)
    assert (g.end, g.ongoing) == (NOW - H, False)


def test_a_job_without_stretches_has_no_strip(viewer_client, hw):
    job = make_job(hw, AV, state="TRAINING")

    response = viewer_client.get(reverse("job_detail", args=[job.pk]))

    assert response.context["gantt"] is None
    assert 'class="gantt"' not in response.content.decode()
