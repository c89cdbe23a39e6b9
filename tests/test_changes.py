"""Changed since you last looked: the last-seen mark (jobs/lastseen_models.py), the change feed
(jobs.changes, /changes/), "N changes since your last visit" and the highlights on the overview
and the job list."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Q
from django.urls import reverse

from jobs import changes
from jobs.lastseen_models import LastSeen
from jobs.models import JobEvent
from tests.fixtures_ui import make_account, make_event, make_job
from tests.test_selectors import _plan as plan_of

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
OBSERVED = JobEvent.Source.OBSERVED


def observe(job, when, frm="TRAINING", to="FAILED", status="failed"):
    """A state change the sync saw (as jobs.sync.kind writes it)."""
    return make_event(job, when, to_state=to, from_state=frm, source=OBSERVED, details={"status": status})


def mark_of(user):
    return LastSeen.objects.get(user=user).seen_at


# --- the mark --------------------------------------------------------------------------------


def test_it_starts_the_mark_at_the_first_visit(viewer):
    assert LastSeen.visit(viewer, NOW) == NOW
    assert mark_of(viewer) == NOW


def test_it_keeps_the_mark_during_one_sitting(viewer):
    LastSeen.visit(viewer, NOW)
    for minutes in (5, 20, 45, 70):  # each visit within 30 minutes of the one before
        assert LastSeen.visit(viewer, NOW + timedelta(minutes=minutes)) == NOW
    assert LastSeen.objects.get(user=viewer).visit_at == NOW + timedelta(minutes=70)


def test_it_moves_the_mark_to_the_previous_visit_after_the_gap(viewer):
    LastSeen.visit(viewer, NOW)
    LastSeen.visit(viewer, NOW + timedelta(minutes=10))
    back = NOW + timedelta(minutes=10 + 31)
    assert LastSeen.visit(viewer, back) == NOW + timedelta(minutes=10)
    assert LastSeen.visit(viewer, back + timedelta(minutes=1)) == NOW + timedelta(minutes=10)  # and stays


def test_it_reads_the_gap_from_the_settings(viewer, settings):
    settings.LAST_SEEN_GAP_MINUTES = 5
    LastSeen.visit(viewer, NOW)
    assert LastSeen.visit(viewer, NOW + timedelta(minutes=6)) == NOW


def test_it_writes_the_visit_at_most_once_a_minute(viewer, django_assert_num_queries):
    LastSeen.visit(viewer, NOW)
    with django_assert_num_queries(1):  # a read only
        LastSeen.visit(viewer, NOW + timedelta(seconds=30))
    with django_assert_num_queries(2):  # a read and the update
        LastSeen.visit(viewer, NOW + timedelta(seconds=90))


def test_it_marks_all_as_seen(viewer_client, viewer):
    LastSeen.visit(viewer, NOW - timedelta(hours=2))
    with time_machine.travel(NOW, tick=False):
        response = viewer_client.post(reverse("changes_seen"), {"next": "/jobs/?kind=translation"})
    assert response.status_code == 302 and response["Location"] == "/jobs/?kind=translation"
    assert mark_of(viewer) == NOW


def test_it_sends_mark_all_seen_nowhere_else(viewer_client):
    response = viewer_client.post(reverse("changes_seen"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("changes")
    assert viewer_client.get(reverse("changes_seen")).status_code == 405


# --- the feed --------------------------------------------------------------------------------


@pytest.fixture
def feed(account):
    """Six changes on three jobs; the last two at the same instant."""
    tencent = make_account("tencent-main", provider="tencent")
    avatar = make_job(account, name="avatar one")
    voice = make_job(account, kind="voice_training", state="PROCESSING", name="voice one")
    doc = make_job(tencent, kind="translation", state="Success", name="doc one")
    events = [
        observe(avatar, NOW - timedelta(hours=5), "WAITING", "TRAINING", "running"),
        observe(voice, NOW - timedelta(hours=4), "CREATING", "PROCESSING", "running"),
        observe(doc, NOW - timedelta(hours=3), "Running", "Success", "succeeded"),
        observe(avatar, NOW - timedelta(hours=2), "TRAINING", "FAILED", "failed"),
        observe(voice, NOW - timedelta(hours=1), "PROCESSING", "FAILED", "failed"),
        observe(doc, NOW - timedelta(hours=1), "Success", "Failed", "failed"),
    ]
    make_event(avatar, NOW, action="UPLOAD")  # an op-log entry: not a change
    return events


def _ids(response):
    return [ev.pk for ev in response.context["page"].rows]


@pytest.mark.db_sensitive
def test_it_lists_the_changes_newest_first(viewer_client, feed):
    response = viewer_client.get(reverse("changes"))
    assert response.status_code == 200
    newest_first = sorted(feed, key=lambda e: (e.occurred_at, e.pk), reverse=True)
    assert _ids(response) == [e.pk for e in newest_first]
    body = response.content.decode()
    assert "avatar one" in body and reverse("job_detail", args=[feed[0].job_id]) in body
    assert body.index("doc one") < body.index("avatar one")


@pytest.mark.db_sensitive
def test_it_pages_without_duplicates_or_gaps_at_equal_times(account):
    job = make_job(account)
    same = NOW - timedelta(hours=1)
    events = [observe(job, same if i % 3 else NOW - timedelta(minutes=i)) for i in range(23)]
    seen, cursor = [], None
    while True:
        page = changes.feed_page({}, cursor, size=4)
        seen += [e.pk for e in page.rows]
        if not page.next_cursor:
            break
        cursor = changes.decode_cursor(page.next_cursor)
    assert len(seen) == len(set(seen)) == 23
    assert seen == [e.pk for e in sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)]


def test_it_links_to_older_pages_keeping_the_filters(viewer_client, account):
    job = make_job(account)
    for i in range(changes.PAGE_SIZE + 3):
        observe(job, NOW - timedelta(minutes=i))
    first = viewer_client.get(reverse("changes"), {"kind": "avatar_training"})
    older = first.context["older_url"]
    assert older and "kind=avatar_training" in older and len(_ids(first)) == changes.PAGE_SIZE
    second = viewer_client.get(older)
    assert len(_ids(second)) == 3 and not set(_ids(first)) & set(_ids(second))
    assert second.context["older_url"] is None and second.context["newest_url"]


@pytest.mark.db_sensitive
@pytest.mark.parametrize(
    "query, expected",
    [
        ({"kind": "translation"}, [5, 2]),
        ({"cloud": "huawei"}, [4, 3, 1, 0]),
        ({"status": "failed"}, [5, 4, 3]),
        ({"status": ["running", "succeeded"]}, [2, 1, 0]),
        ({"kind": "voice_training", "status": "failed"}, [4]),
    ],
)
def test_it_filters_the_changes(viewer_client, feed, query, expected):
    response = viewer_client.get(reverse("changes"), query)
    got = _ids(response)
    assert sorted(got) == sorted(feed[i].pk for i in expected)


def test_it_filters_by_account(viewer_client, feed, account):
    response = viewer_client.get(reverse("changes"), {"account": account.pk})
    assert sorted(_ids(response)) == sorted(feed[i].pk for i in (0, 1, 3, 4))


@pytest.mark.parametrize(
    "query",
    [{"kind": "nope"}, {"status": "exploded"}, {"account": "abc"}, {"account": "999999"}, {"after": "garbage"},
     {"cloud": "aws"}, {"after": "WyJub3QgYSB0aW1lIiwgMV0"}],
)  # fmt: skip
def test_it_answers_400_to_nonsense(viewer_client, feed, query):
    assert viewer_client.get(reverse("changes"), query).status_code == 400


def test_it_needs_a_login(client, feed):
    response = client.get(reverse("changes"))
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.post(reverse("changes_seen")).status_code in (302, 403)
    assert not LastSeen.objects.exists()


def test_it_highlights_only_the_changes_after_the_mark(viewer_client, viewer, feed):
    LastSeen.objects.create(user=viewer, seen_at=NOW - timedelta(hours=2, minutes=30), visit_at=NOW)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = viewer_client.get(reverse("changes"))
    body = response.content.decode()
    for i, event in enumerate(feed):
        row = body[body.index(f'id="change-{event.pk}"') - 4 :].split("</tr>")[0]
        assert ('class="changed"' in row) is (i >= 3), i
        assert ("new since your last visit" in row) is (i >= 3)


def test_it_escapes_job_names(viewer_client, account):
    job = make_job(account, name="<script>alert(1)</script>")
    observe(job, NOW)
    body = viewer_client.get(reverse("changes")).content.decode()
    assert "<script>alert(1)" not in body and "&lt;script&gt;" in body


# --- the count and the highlights on the overview and the job list -----------------------------


@pytest.mark.db_sensitive
def test_it_counts_the_changes_after_the_mark(feed):
    assert str(changes.count_since(NOW - timedelta(hours=2, minutes=30))) == "3"
    assert str(changes.count_since(NOW)) == "0"
    assert str(changes.count_since(NOW - timedelta(days=1), limit=4)) == "4+"


def test_it_bounds_the_count_at_a_thousand(account):
    job = make_job(account)
    JobEvent.objects.bulk_create(
        JobEvent(job=job, occurred_at=NOW - timedelta(seconds=i), source=OBSERVED, to_state="X", key=f"k{i}")
        for i in range(1002)
    )
    count = changes.count_since(NOW - timedelta(days=1))
    assert str(count) == "1,000+"


@pytest.mark.parametrize("page", ["home", "job_list", "changes"])
def test_it_says_how_many_changed_since_the_last_visit(viewer_client, viewer, feed, page):
    LastSeen.objects.create(user=viewer, seen_at=NOW - timedelta(hours=2, minutes=30), visit_at=NOW)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        body = viewer_client.get(reverse(page)).content.decode()
    assert "3 changes since your last visit" in body
    assert reverse("changes_seen") in body


def test_it_says_so_when_nothing_changed(viewer_client, feed):
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        body = viewer_client.get(reverse("home")).content.decode()  # a first visit: the mark is now
    assert "No changes since your last visit." in body


def test_it_highlights_list_rows_that_changed_after_the_mark(viewer_client, viewer, account):
    old = make_job(account, name="old news", state_changed_at=NOW - timedelta(hours=3))
    new = make_job(
        account, name="just failed", state="FAILED", status="failed", state_changed_at=NOW - timedelta(hours=1)
    )
    LastSeen.objects.create(user=viewer, seen_at=NOW - timedelta(hours=2), visit_at=NOW)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        body = viewer_client.get(reverse("job_list")).content.decode()
    assert f'<tr id="job-{new.pk}" class="changed">' in body
    assert f'<tr id="job-{old.pk}">' in body
    assert body.count("changed since your last visit") == 1


def test_it_highlights_overview_failures_after_the_mark(viewer_client, viewer, account):
    make_job(
        account, name="failed long ago", state="FAILED", status="failed", state_changed_at=NOW - timedelta(hours=3)
    )
    make_job(account, name="failed lately", state="FAILED", status="failed", state_changed_at=NOW - timedelta(hours=1))
    LastSeen.objects.create(user=viewer, seen_at=NOW - timedelta(hours=2), visit_at=NOW)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        body = viewer_client.get(reverse("home")).content.decode()
    rows = body[body.index('id="h-failures"') :].split("<tr")[2:]
    changed = [row for row in rows if 'class="changed"' in row]
    assert len(rows) == 2 and len(changed) == 1
    assert "failed lately" in changed[0] and "changed since your last visit" in changed[0]


def test_the_list_reads_the_mark_in_one_query_and_no_query_per_row(viewer_client, viewer, account):
    for _ in range(5):
        make_job(account)
    viewer_client.get(reverse("job_list"))  # warm up: the first visit writes the mark
    with pytest.MonkeyPatch.context() as mp:
        calls = []
        real = LastSeen.visit
        mp.setattr(LastSeen, "visit", classmethod(lambda cls, *a, **k: calls.append(1) or real(*a, **k)))
        viewer_client.get(reverse("job_list"))
    assert calls == [1]


# --- the queries are index ranges ----------------------------------------------------------------


def _plan(qs):
    return plan_of(*qs.query.sql_with_params())


@pytest.mark.db_sensitive
def test_the_count_reads_a_range_of_the_observed_index(feed):
    inner = changes.observed().filter(occurred_at__gt=NOW).values("id").order_by()[:1001]
    plan = _plan(inner)
    assert "jobevent_observed" in plan
    assert "SCAN jobs_jobevent " not in plan + " " and "Seq Scan" not in plan


@pytest.mark.db_sensitive
def test_the_feed_walks_the_observed_index_from_the_cursor(feed):
    walk = changes.observed().order_by("-occurred_at", "-id").filter(occurred_at__lte=NOW)
    plan = _plan(walk.filter(Q(occurred_at__lt=NOW) | Q(id__lt=5)).values_list(*changes.SCAN_FIELDS)[:500])
    assert "jobevent_observed" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # in index order: no sort


@pytest.mark.db_sensitive
def test_a_filtered_page_reads_a_bounded_stretch_and_goes_on_from_there(account, monkeypatch):
    monkeypatch.setattr(changes, "SCAN_CHUNK", 4)
    monkeypatch.setattr(changes, "SCAN_LIMIT", 8)
    rare = make_job(make_account("tencent-rare", provider="tencent"), kind="translation", state="Success")
    common = make_job(account)
    wanted = observe(rare, NOW - timedelta(hours=1), "Running", "Success", "succeeded")
    for i in range(10):  # newer changes of other jobs than the one filtered for
        observe(common, NOW - timedelta(minutes=i))
    first = changes.feed_page({"kind": ["translation"]})
    assert first.rows == [] and first.scanned == 8 and first.next_cursor
    second = changes.feed_page({"kind": ["translation"]}, changes.decode_cursor(first.next_cursor))
    assert [e.pk for e in second.rows] == [wanted.pk] and second.next_cursor is None
