"""Issue #12 on the job list (jobs/views/joblist.py): live refresh ends "no jobs", filter menus
name what is ticked, "Load more" leaves its position in the URL, more sorts with sortable column
headers, labelled quick-range menus."""

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import selectors
from jobs.models import Job
from tests.fixtures_ui import make_job, walk_pages

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _ids(response):
    return [int(pk) for pk in re.findall(r'<tr id="job-(\d+)"', response.content.decode())]


def _more_url(response):
    match = re.search(r'<tr id="load-more">.*?hx-get="([^"]+)"', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else None


def _plan(sql):
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql)
            return " ".join(str(row[-1]) for row in cur.fetchall())
        # At a few rows any plan is cheap: say what a big table makes dear, then ask whether a
        # plan reads the rows in index order (with none, PostgreSQL still sorts).
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cur.execute(f"SET LOCAL {setting} = off")
        cur.execute("EXPLAIN " + sql)
        return " ".join(row[0] for row in cur.fetchall())


# --- sorts --------------------------------------------------------------------------------


@pytest.mark.db_sensitive
@pytest.mark.parametrize("sort", ["state_age", "started", "finished"])
def test_it_pages_the_new_sorts_through_every_row_once_with_ties_and_nulls(account, sort):
    when = timezone.now() - timedelta(days=2)
    for i in range(19):
        # Three equal values of each time, and a third of the jobs never started or finished.
        at = None if i % 3 == 0 else when + timedelta(hours=i % 2)
        make_job(account, state_changed_at=when + timedelta(hours=i % 2), started_at=at, finished_at=at)
    rows = walk_pages(Job.objects.all(), sort, 4)
    assert sorted(j.pk for j in rows) == sorted(Job.objects.values_list("pk", flat=True))
    assert len({j.pk for j in rows}) == len(rows)
    field = selectors.SORTS[sort][0]
    if sort == "state_age":
        assert [(j.state_changed_at, j.pk) for j in rows] == sorted((j.state_changed_at, j.pk) for j in rows)
    else:
        valued = [(getattr(j, field), j.pk) for j in rows if getattr(j, field)]
        assert valued == sorted(valued, reverse=True)  # newest first, then the jobs without one
        blank = [j.pk for j in rows[len(valued) :]]
        assert blank == sorted(blank, reverse=True) and not any(getattr(j, field) for j in rows[len(valued) :])


@pytest.mark.db_sensitive
@pytest.mark.parametrize(
    "sort,index,value",
    [
        ("state_age", "job_state_age_keyset", "set"),
        ("started", "job_started_keyset", "set"),
        ("started", "job_started_keyset", None),  # the page walks on among jobs never started
        ("finished", "job_finished_keyset", "first"),
        ("finished", "job_finished_keyset", "set"),
    ],
)
def test_it_reads_a_page_of_a_new_sort_through_its_index(account, sort, index, value):
    for _ in range(3):
        make_job(account, started_at=timezone.now(), finished_at=timezone.now())
    last = Job.objects.order_by("pk").last()
    field = selectors.SORTS[sort][0]
    cursor = None if value == "first" else (getattr(last, field) if value else None, last.pk)
    with CaptureQueriesContext(connection) as queries:
        selectors.job_page(Job.objects.filter(gone=False), sort, cursor, 50)
    for query in queries.captured_queries:
        plan = _plan(query["sql"])
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan.upper() and "Sort Key" not in plan, plan  # rows in index order


@pytest.mark.parametrize("sort", ["started", "finished"])
def test_it_reads_a_cursor_that_ended_among_jobs_without_a_time(sort):
    assert selectors.decode_cursor(selectors.encode_cursor(None, 7), sort) == (None, 7)
    with pytest.raises(selectors.BadCursor):
        selectors.decode_cursor(selectors.encode_cursor(None, 7), "updated")


def test_it_sorts_the_list_by_time_in_state(viewer_client, account):
    now = timezone.now()
    fresh = make_job(account, name="fresh", state_changed_at=now - timedelta(minutes=5))
    old = make_job(account, name="old", state_changed_at=now - timedelta(days=9))
    response = viewer_client.get("/jobs/", {"sort": "state_age"})
    assert response.status_code == 200
    assert _ids(response) == [old.pk, fresh.pk]
    assert '<option value="state_age" selected>' in response.content.decode()


def test_it_links_column_headers_to_their_sort_with_aria_sort(viewer_client, account):
    make_job(account)
    body = viewer_client.get("/jobs/", {"kind": "avatar_training", "sort": "name"}).content.decode()
    headers = re.findall(r'<th scope="col"([^>]*)><a class="sort-link" href="([^"]+)"', body)
    by_sort = {parse_qs(urlparse(html.unescape(url)).query)["sort"][0]: attrs for attrs, url in headers}
    assert set(by_sort) == {"name", "created", "updated"}
    assert 'aria-sort="ascending"' in by_sort["name"]
    assert "aria-sort" not in by_sort["created"] and "aria-sort" not in by_sort["updated"]
    assert all("kind=avatar_training" in html.unescape(url) for _attrs, url in headers)  # filters stay
    default = viewer_client.get("/jobs/").content.decode()
    assert re.search(r'<th scope="col" aria-sort="descending"><a class="sort-link" href="[^"]*sort=updated', default)


# --- Load more and Back -------------------------------------------------------------------


def test_it_records_how_far_load_more_went_and_a_full_load_shows_those_rows(viewer_client, account):
    for _ in range(130):
        make_job(account)
    first = viewer_client.get("/jobs/")
    shown = _ids(first)
    more = _more_url(first)
    assert parse_qs(urlparse(more).query)["n"] == ["100"]
    second = viewer_client.get(more, **HX)
    shown += _ids(second)
    assert second["HX-Replace-Url"] == "/jobs/?n=100"
    third = viewer_client.get(_more_url(second), **HX)
    shown += _ids(third)
    assert third["HX-Replace-Url"] == "/jobs/?n=130" and _more_url(third) is None
    # Back (a full load of the recorded URL) shows the same rows, in the same order.
    again = viewer_client.get(third["HX-Replace-Url"])
    assert _ids(again) == shown and len(shown) == 130
    assert "Back to the first page" not in again.content.decode()


def test_it_caps_the_recorded_position(viewer_client, account):
    for _ in range(3):
        make_job(account)
    response = viewer_client.get("/jobs/", {"n": "5000000"})
    assert response.status_code == 200 and len(_ids(response)) == 3
    form_n = response.context["form"].cleaned_data["n"]
    assert form_n == 1000
    assert viewer_client.get("/jobs/", {"n": "0"}).status_code == 400


# --- live refresh -------------------------------------------------------------------------


def test_a_poll_that_brings_rows_can_end_the_no_jobs_message(viewer_client, account):
    # static/js/app.js removes #no-jobs when a poll swaps rows in (tests/test_browser_list.py).
    page = viewer_client.get("/jobs/", {"q": "arrival"}).content.decode()
    assert re.search(r'<tr id="no-jobs"><td colspan="7" class="empty">No jobs match', page)
    since = (timezone.now() - timedelta(seconds=1)).isoformat()
    late = make_job(account, name="late arrival", synced_at=timezone.now())
    poll = viewer_client.get("/jobs/", {"q": "arrival", "since": since}, **HX).content.decode()
    assert f'<tr id="job-{late.pk}"' in poll
    assert re.search(r'<div id="counts"[^>]*hx-swap-oob="true"[^>]*hx-trigger="load"', poll)  # counts reload


# --- filter menus ------------------------------------------------------------------------


def test_filter_menus_name_what_is_ticked(viewer_client, account):
    make_job(account)
    one = viewer_client.get("/jobs/", {"kind": "translation"}).content.decode()
    kind = re.search(r'data-field="kind">\s*<summary>(.*?)</summary>', one, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", kind).strip() == "Kind: Translation"
    two = viewer_client.get("/jobs/", {"kind": ["translation", "voice_training"]}).content.decode()
    kind = re.search(r'data-field="kind">\s*<summary>(.*?)</summary>', two, re.S).group(1)
    assert '<span class="count">2</span>' in kind and ":" not in re.sub(r"<[^>]+>", "", kind)
    status = re.search(r'data-field="status">\s*<summary>(.*?)</summary>', two, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", status).strip() == "Status"


def test_the_quick_range_menus_have_labels(viewer_client):
    body = viewer_client.get("/jobs/").content.decode()
    for name in ("created", "updated"):
        assert re.search(rf'<label><span class="sr-only">[^<]+</span><select name="{name}"', body), name
