"""Bad query strings get a 400 that says what was wrong and links back, never a 500 (issue #11,
finding 2). tests/test_views_fuzz.py throws arbitrary input at every view; these are the causes
found by hand, and what the answer looks like."""

import base64
import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.models import UserPreference
from tests.fixtures_ui import make_event, make_job, make_run

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
HUGE = "99999999999999999999999"


def _cursor(value, pk):
    """A page cursor in the shape jobs.selectors.encode_cursor writes, holding anything."""
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


def _links(response):
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', response.content.decode())]


@pytest.fixture
def job(account):
    return make_job(account, name="the only job")


@pytest.fixture
def far_east(viewer):
    UserPreference.objects.create(user=viewer, time_zone="Asia/Tokyo")  # ahead of UTC, in year 1 too


# --- dates at the ends of the calendar ------------------------------------------------------


@pytest.mark.parametrize("path", ["/jobs/", "/jobs/counts/", "/jobs/export.csv"])
@pytest.mark.parametrize("param", ["created_to", "updated_to"])
def test_it_reads_the_last_day_of_the_calendar_as_no_upper_bound(viewer_client, job, path, param):
    response = viewer_client.get(path, {param: "9999-12-31"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"the only job" in body or b"1 job" in body


@pytest.mark.parametrize("param", ["created_from", "updated_from"])
def test_it_reads_the_first_day_of_the_calendar_in_a_zone_ahead_of_utc_as_no_lower_bound(
    viewer_client, far_east, job, param
):
    response = viewer_client.get("/jobs/", {param: "0001-01-01"})
    assert response.status_code == 200 and b"the only job" in response.content


def test_it_still_filters_by_the_days_next_to_the_ends(viewer_client, far_east, job):
    assert b"the only job" in viewer_client.get("/jobs/", {"created_to": "9999-12-30"}).content
    assert b"the only job" not in viewer_client.get("/jobs/", {"created_from": "9999-12-30"}).content
    assert b"the only job" in viewer_client.get("/jobs/", {"updated_from": "0001-01-02"}).content


# --- the poll cursor (since) -----------------------------------------------------------------


@pytest.mark.parametrize("since", ["2026-13-45T00:00:00+00:00", "2026-02-30T00:00:00Z", "2026-01-01T25:00:00+00:00"])
def test_it_answers_400_to_an_impossible_poll_time(viewer_client, job, since):
    for headers in ({}, HX):
        response = viewer_client.get("/jobs/", {"since": since}, **headers)
        assert response.status_code == 400
        assert "Not a time." in response.content.decode()


def test_it_polls_from_the_first_instant_when_since_is_before_it_in_utc(viewer_client, job):
    response = viewer_client.get("/jobs/", {"since": "0001-01-01T00:00:00+14:00"}, **HX)
    assert response.status_code == 200 and b"the only job" in response.content


def test_it_finds_nothing_new_after_the_last_instant(viewer_client, job):
    response = viewer_client.get("/jobs/", {"since": "9999-12-31T23:00:00-05:00"}, **HX)
    assert response.status_code == 204


# --- the page cursor (after) -----------------------------------------------------------------

ODD_CURSORS = [
    _cursor("2026-02-30T00:00:00+00:00", 1),  # impossible date
    _cursor("2026-13-45T00:00:00+00:00", 1),
    _cursor("0001-01-01T00:00:00+14:00", 1),  # before the first instant in UTC
    _cursor("9999-12-31T23:00:00-05:00", 1),  # after the last
    _cursor("2026-01-01T00:00:00", 1),  # no time zone
    _cursor("2026-01-01T00:00:00+00:00", 2**64),  # an id no database holds
    _cursor("2026-01-01T00:00:00+00:00", -1),
    _cursor("2026-01-01T00:00:00+00:00", True),
    _cursor("2026-01-01T00:00:00+00:00", 1.5),
    _cursor("2026-01-01T00:00:00+00:00", "1"),
    _cursor(["2026-01-01"], 1),
    _cursor(None, 1),
    base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
    base64.urlsafe_b64encode(b"[" * 400 + b"]" * 400).decode(),
    base64.urlsafe_b64encode(b'["x", ' + b"9" * 5000 + b"]").decode()[:1000],
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "!!!not base64",
    "ab",
    "é",
]


@pytest.mark.parametrize("after", ODD_CURSORS)
def test_it_answers_400_to_an_odd_page_cursor(viewer_client, job, after):
    for headers in ({}, HX):
        response = viewer_client.get("/jobs/", {"after": after}, **headers)
        assert response.status_code == 400
        assert "Not a page cursor." in response.content.decode()


@pytest.mark.db_sensitive  # PostgreSQL refuses a NUL in a query (a 500 before), SQLite does not
@pytest.mark.parametrize("name", ["a\x00b", "x" * 513])
def test_it_answers_400_to_a_name_cursor_no_name_can_hold(viewer_client, job, name):
    response = viewer_client.get("/jobs/", {"sort": "name", "after": _cursor(name, 1)})
    assert response.status_code == 400


def test_it_still_pages_by_name_with_any_text_a_name_can_hold(viewer_client, job):
    response = viewer_client.get("/jobs/", {"sort": "name", "after": _cursor("Ä 名字 'x' %_", 1)})
    assert response.status_code == 200


def test_it_pages_on_after_the_longest_name_of_the_widest_characters(viewer_client, account):
    for n in range(51):
        make_job(account, name="\U00020000" * 510 + f"{n:02d}")  # 512 characters of 4 bytes each
    more_url = viewer_client.get("/jobs/", {"sort": "name"}).context["more_url"]
    response = viewer_client.get(more_url, **HX)
    assert response.status_code == 200 and response.content.count(b'<tr id="job-') == 1


# --- sync progress ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        [("run", HUGE)],
        [("run", str(2**63))],
        [("run", "-1")],
        [("run", "0")],
        [("run", "abc")],
        [("run", "1.5")],
        [("run", "")],
        [("run", "1\x00")],
        [("run", "{real}"), ("run", HUGE)],
        [("run", "{real}")] + [("run", str(n)) for n in range(1000, 1021)],  # more than 20 runs
        [],
    ],
)
def test_it_answers_400_to_a_bad_run_id(viewer_client, account, query):
    run = make_run(account)
    query = [(k, v.format(real=run.pk)) for k, v in query]
    response = viewer_client.get("/sync/progress/", query)
    assert response.status_code == 400
    assert "/sync/" in _links(response)


def test_it_answers_a_repeated_run_id_once(viewer_client, account):
    run = make_run(account)
    response = viewer_client.get("/sync/progress/", [("run", run.pk), ("run", run.pk)])
    assert response.status_code == 200 and response.content.count(b"<li>") == 1


def test_it_stops_the_progress_poll_on_a_bad_run_id(viewer_client, account):
    response = viewer_client.get("/sync/progress/", {"run": HUGE}, **HX)
    assert response.status_code == 400
    body = response.content.decode()
    assert "<html" not in body and "hx-get" not in body and "hx-trigger" not in body
    assert response["HX-Reswap"] == "outerHTML"


# --- the job page's steps -------------------------------------------------------------------


@pytest.mark.parametrize("after_event", ["x", HUGE, "-1", "1e5", "9" * 5000])
def test_it_answers_400_to_a_bad_step_cursor(viewer_client, job, after_event):
    make_event(job, timezone.now(), to_state="TRAINING")
    response = viewer_client.get(f"/jobs/{job.pk}/", {"after_event": after_event})
    assert response.status_code == 400
    assert f"/jobs/{job.pk}/" in _links(response)
    fragment = viewer_client.get(f"/jobs/{job.pk}/", {"after_event": after_event}, **HX)
    assert fragment.status_code == 400 and b"<html" not in fragment.content
    assert fragment["HX-Retarget"] == "#more-steps"


def test_it_answers_404_to_a_job_id_no_database_holds(viewer_client):
    assert viewer_client.get(f"/jobs/{HUGE}/").status_code == 404


def test_it_answers_404_to_sync_now_for_an_account_that_is_not_a_number(operator_client):
    for value in ("abc", HUGE, "-1", ""):
        assert operator_client.post("/sync/now/", {"account": value}).status_code == 404


# --- several values, unknown values, unknown names ------------------------------------------


def test_it_answers_400_to_an_unknown_choice_among_known_ones(viewer_client, job):
    response = viewer_client.get("/jobs/", [("kind", "avatar_training"), ("kind", "nope")])
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()


def test_it_accepts_repeated_choices_and_ignores_unknown_parameters(viewer_client, job):
    query = [("kind", "avatar_training")] * 3 + [("status", "running"), ("status", "running"), ("utm_source", "x")]
    response = viewer_client.get("/jobs/", query)
    assert response.status_code == 200 and b"the only job" in response.content


def test_it_takes_the_last_of_repeated_single_values(viewer_client, job):
    assert viewer_client.get("/jobs/", [("sort", "bogus"), ("sort", "name")]).status_code == 200
    assert viewer_client.get("/jobs/", [("sort", "name"), ("sort", "bogus")]).status_code == 400


# --- what the 400 says and where it leads -----------------------------------------------------


def test_it_says_which_parameter_was_wrong_and_links_to_the_page_without_it(viewer_client, job):
    response = viewer_client.get("/jobs/", [("status", "running"), ("created_from", "yesterday"), ("q", "abc")])
    assert response.status_code == 400
    body = response.content.decode()
    assert "Created from" in body and "Enter a valid date." in body and "yesterday" in body
    assert "/jobs/?status=running&q=abc" in _links(response)
    assert "/jobs/" in _links(response)


def test_it_sends_counts_and_export_with_a_bad_filter_back_to_the_list_without_it(viewer_client, job):
    for path in ("/jobs/counts/", "/jobs/export.csv"):
        response = viewer_client.get(path, [("kind", "avatar_training"), ("state", "no such state!")])
        assert response.status_code == 400
        assert "Not a vendor state." in response.content.decode()
        assert "/jobs/?kind=avatar_training" in _links(response)


def test_it_answers_htmx_with_a_400_fragment_in_place_of_the_results(viewer_client, job):
    response = viewer_client.get("/jobs/", {"state": "in progress"}, **HX)
    assert response.status_code == 400
    body = response.content.decode()
    assert "<html" not in body and "Not a vendor state." in body and 'role="alert"' in body
    assert response["HX-Retarget"] == "#results" and response["HX-Reswap"] == "innerHTML"
    assert "/jobs/" in _links(response)


def test_it_leaves_the_rows_alone_when_a_poll_is_bad(viewer_client, job):
    response = viewer_client.get("/jobs/", {"since": "nope"}, **HX)
    assert response.status_code == 400 and response["HX-Reswap"] == "none"


def test_it_answers_a_poll_later_than_the_newest_change_with_204(viewer_client, job):
    since = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert viewer_client.get("/jobs/", {"since": since}, **HX).status_code == 204
