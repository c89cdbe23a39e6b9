from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from jobs import selectors, stuck, timelines
from jobs.models import Job
from tests.fixtures_ui import make_account, make_event, make_job, walk_pages

pytestmark = pytest.mark.django_db


@pytest.mark.db_sensitive
@pytest.mark.parametrize("sort", ["updated", "created", "name"])
def test_it_pages_through_every_row_once_even_with_ties(account, sort):
    same = timezone.now() - timedelta(hours=1)
    for i in range(17):
        # Ties in every sort key: the id breaks them.
        make_job(account, name=f"n{i % 3}", updated_at=same, created_at=same)
    seen = [j.pk for j in walk_pages(Job.objects.all(), sort, 4)]
    assert sorted(seen) == sorted(Job.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen))


def test_it_orders_pages_by_the_sort_key(account):
    for i in range(6):
        make_job(account, name=f"z{5 - i}")
    names = [j.name for j in selectors.job_page(Job.objects.all(), "name", None, 10).rows]
    assert names == sorted(names)
    updated = [j.updated_at for j in selectors.job_page(Job.objects.all(), "updated", None, 10).rows]
    assert updated == sorted(updated, reverse=True)


@pytest.mark.parametrize("bad", ["", "x", "bm90LWpzb24", "WzEsMl0", "WyJub3QtYS1kYXRlIiwgMV0"])
def test_it_refuses_nonsense_cursors(bad):
    with pytest.raises(selectors.BadCursor):
        selectors.decode_cursor(bad, "updated")


def test_it_bounds_counts(account):
    for _ in range(5):
        make_job(account)
    assert str(selectors.bounded_count(Job.objects.all(), limit=3)) == "3+"
    assert str(selectors.bounded_count(Job.objects.all(), limit=5)) == "5"


@override_settings(STUCK_LIMIT_HOURS={"avatar_training:TRAINING": 72, "avatar_training:*": 2})
@pytest.mark.db_sensitive
def test_it_finds_stuck_jobs_by_per_state_limits(account):
    now = timezone.now()
    long_training = make_job(account, state="TRAINING", state_changed_at=now - timedelta(hours=80))
    make_job(account, state="TRAINING", state_changed_at=now - timedelta(hours=10))  # under 72 h
    compiling = make_job(account, state="COMPILING", state_changed_at=now - timedelta(hours=3))  # over "*"
    make_job(account, state="JOB_SUCCESS", state_changed_at=now - timedelta(days=30))  # settled
    stuck = set(Job.objects.filter(selectors.stuck_q(now)).values_list("pk", flat=True))
    assert stuck == {long_training.pk, compiling.pk}
    assert selectors.is_stuck(long_training, now) and not selectors.is_stuck(Job.objects.get(state="JOB_SUCCESS"), now)


@override_settings(STUCK_LIMIT_HOURS={"voice_training:*": 48})
def test_it_builds_a_timeline_with_durations_totals_and_stuck_marks(account):
    now = timezone.now()
    t0 = now - timedelta(days=10)
    job = make_job(account, kind="voice_training", state="SUCCEED")
    events = [
        make_event(job, t0, to_state="WAITING"),
        make_event(job, t0 + timedelta(hours=1), to_state="PROCESSING"),
        make_event(job, t0 + timedelta(hours=2), to_state="WAITING"),
        make_event(job, t0 + timedelta(hours=5), to_state="PROCESSING"),
        make_event(job, t0 + timedelta(hours=105), to_state="SUCCEED"),
    ]
    tl = timelines.timeline(job, events, now)
    assert [s.since_previous for s in tl.steps] == [
        None,
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=100),
    ]
    totals = {label: (total, stuck) for label, total, stuck in tl.totals}
    assert totals["WAITING"] == (timedelta(hours=4), False)
    assert totals["PROCESSING"] == (timedelta(hours=101), True)  # the 100 h stretch is over 48 h
    assert tl.steps[-1].duration is None  # settled: the last state has no end
    assert tl.total == timedelta(hours=105)


def test_it_lets_the_current_state_of_a_running_job_last_until_now(account):
    now = timezone.now()
    job = make_job(account, kind="voice_training", state="PROCESSING")
    events = [make_event(job, now - timedelta(hours=3), to_state="PROCESSING")]
    tl = timelines.timeline(job, events, now)
    assert tl.steps[0].current and tl.steps[0].duration == timedelta(hours=3)


def _plan(sql, params):
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " ".join(str(row[-1]) for row in cur.fetchall())
        # A test table has a handful of rows: without these, any scan is as good as another.
        # (Bitmap scans off too: the smallest partial index then wins a bitmap scan, whether
        # or not it covers the query, as job_live_status did for the overview's counts.)
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL enable_bitmapscan = off")
        cur.execute("EXPLAIN " + sql, params)
        return " ".join(row[0] for row in cur.fetchall())


@pytest.mark.db_sensitive
@pytest.mark.parametrize(
    "sort,index", [("updated", "job_updated_keyset"), ("created", "job_created_keyset"), ("name", "job_name_keyset")]
)
def test_it_reads_a_keyset_page_through_its_index(account, sort, index):
    for _ in range(3):
        make_job(account)
    last = Job.objects.order_by("pk").last()
    value = getattr(last, selectors.SORTS[sort][0])
    qs = selectors.after_cursor(selectors.order_jobs(Job.objects.filter(gone=False), sort), sort, (value, last.pk))[:50]
    sql, params = qs.query.sql_with_params()
    plan = _plan(sql, params)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan.upper(), plan  # no sort step: rows come in index order


@pytest.mark.db_sensitive
def test_it_answers_a_poll_from_the_synced_index(account):
    make_job(account)
    qs = Job.objects.filter(synced_at__gt=timezone.now()).values("id")[:500]
    sql, params = qs.query.sql_with_params()
    assert "job_synced" in _plan(sql, params)


def test_it_finds_linked_jobs_both_ways(account):
    voice = make_job(account, kind="voice_training", state="SUCCEED")
    avatar = make_job(account, kind="avatar_training", linked_job_id=voice.remote_id)
    assert timelines.job_detail(avatar.pk)[1].pk == voice.pk
    assert timelines.job_detail(voice.pk)[1].pk == avatar.pk


@pytest.mark.db_sensitive
def test_it_counts_statuses_per_account_and_kind(account):
    make_job(account, state="TRAINING")
    make_job(account, state="TRAINING")
    make_job(account, state="JOB_SUCCESS", gone=True)  # gone jobs are not counted
    assert selectors.status_counts() == {(account.pk, "avatar_training"): {"running": 2}}


def test_it_judges_freshness_by_the_account_interval():
    now = timezone.now()
    acc = make_account(sync_interval=300, last_success_at=now - timedelta(minutes=5))
    assert selectors.freshness(acc, now) == "fresh"
    acc.last_success_at = now - timedelta(hours=2)
    assert selectors.freshness(acc, now) == "stale"
    acc.last_success_at = None
    assert selectors.freshness(acc, now) == "never"


@pytest.mark.db_sensitive
def test_it_finds_the_linked_job_through_the_partial_index(account):
    make_job(account, kind="avatar_training", linked_job_id="voice-1")
    qs = Job.objects.filter(linked_job_id="voice-1").exclude(linked_job_id="").exclude(pk=0).values("id")[:10]
    sql, params = qs.query.sql_with_params()
    assert "job_linked" in _plan(sql, params)


@pytest.mark.db_sensitive
def test_it_counts_the_overview_from_its_index(account):
    make_job(account)
    from django.db.models import Count

    qs = Job.objects.filter(gone=False).values("account_id", "kind", "status").annotate(n=Count("*")).order_by()
    sql, params = qs.query.sql_with_params()
    assert "job_overview_counts" in _plan(sql, params)


@pytest.mark.db_sensitive  # one UNION ALL of limited subqueries: both backends must take it
def test_it_lists_the_longest_stuck_jobs_first_across_statuses(account):
    now = timezone.now()
    oldest = make_job(account, state="MANUAL_VERIFYING", state_changed_at=now - timedelta(days=40))  # reviewing
    middle = make_job(account, state="TRAINING", state_changed_at=now - timedelta(days=20))  # running
    newest = make_job(account, state="WAIT_COMPILE", state_changed_at=now - timedelta(days=10))  # queued
    make_job(account, state="TRAINING", state_changed_at=now - timedelta(hours=1))  # not stuck
    # Running jobs first (issue #12: a job stuck while running matters more than one waiting),
    # then the waiting ones by how far past their limits they are.
    found = stuck.stuck_jobs(limit=10, now=now)
    assert [j.pk for j in found.jobs] == [middle.pk, oldest.pk, newest.pk] and found.total.n == 3
    assert [j.pk for j in stuck.stuck_jobs(limit=2, now=now).jobs] == [middle.pk, oldest.pk]


def test_the_stuck_ranking_reads_the_active_age_index(account):
    # SQLite only (as below). With the index's condition as a bound parameter SQLite would not
    # use the partial index at all: 15 walks of the whole status index (0.5 s at 300k jobs).
    make_job(account)
    sent = []  # (sql, params) as the driver gets them: parameters bound, not interpolated

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        stuck.stuck_jobs(limit=10)
    ranked = [(sql, params) for sql, params in sent if "UNION ALL" in sql]
    assert len(ranked) == 1  # every state's walk in one statement
    sql, params = ranked[0]
    walks = len(stuck._moving_states())
    assert sql.count("LIMIT 10") == walks
    # Each walk an exact range of the partial index (the state a key column), none a scan of
    # another index nor a sort.
    plan = _plan(sql, params)
    assert plan.count("USING INDEX job_active_age (status=? AND kind=? AND state=? AND state_changed_at<?)") == walks, (
        plan
    )
    assert "TEMP B-TREE" not in plan.upper().replace("FOR RIGHT PART OF ORDER BY", ""), plan


def test_it_walks_the_status_index_for_stuck_jobs(account):
    # SQLite only: on a one-row PostgreSQL table any index is as good as another to its planner.
    make_job(account)
    qs = (
        Job.objects.filter(gone=False, status="running")
        .filter(selectors.stuck_q())
        .order_by("state_changed_at", "id")[:10]
    )
    sql, params = qs.query.sql_with_params()
    plan = _plan(sql, params)
    assert "job_status_state_changed" in plan and "TEMP B-TREE" not in plan.upper(), plan
