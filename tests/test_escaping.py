"""Vendor text (job names, op-log messages and operators, states, error texts) is shown as text on
every page, never as markup: in templates (the overview's stuck and failure lists) and in the
HTML the dashboard builds in Python (the job list's rows, the detail page's timeline).

Each hostile value is distinct, so a test names the one field that leaked."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from jobs.models import JobEvent
from tests.fixtures_ui import make_account, make_event, make_job

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def evil(n: int) -> str:
    """A short hostile value (fits every column, even a 32-character operator)."""
    return f"<script>alert({n})</script>" if n % 2 else f"<img src=x onerror=alert({n})>"


def assert_text(body: str, value: str, where: str = "") -> None:
    assert value not in body, f"{value!r} rendered as markup {where}"
    assert escape(value) in body, f"{value!r} not shown as text {where}"


def section(body: str, heading_id: str) -> str:
    """The <section> labelled by ``heading_id``."""
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', body, re.S)
    assert match, heading_id
    return match.group(0)


# --- overview -----------------------------------------------------------------------------


def test_the_overview_shows_names_and_errors_in_its_stuck_and_failure_lists_as_text(viewer_client):
    account = make_account(evil(1))
    account.last_error = evil(2)
    account.save()
    now = timezone.now()
    make_job(account, state="TRAINING", name=evil(3), state_changed_at=now - timedelta(days=10))
    make_job(account, state="TRAIN_FAILED", name=evil(5), error_code=evil(7), error_message=evil(8))

    body = viewer_client.get("/").content.decode()

    stuck, failures = section(body, "h-stuck"), section(body, "h-failures")
    assert_text(stuck, evil(3), "in the stuck list")
    assert_text(failures, evil(5), "in the failure list")
    assert_text(failures, evil(7), "in the failure list")
    assert_text(failures, evil(8), "in the failure list")
    assert_text(stuck, evil(1), "in the stuck list")
    assert_text(section(body, "h-health"), evil(1), "in the sync health table")
    assert_text(section(body, "h-health"), evil(2), "in the sync health table")
    assert_text(section(body, "h-counts"), evil(1), "in the chart")


def test_the_overview_escapes_a_name_without_a_name_the_remote_id(viewer_client, account):
    # An unnamed job shows its id instead; that comes from the vendor as well.
    make_job(account, state="TRAIN_FAILED", name="", remote_id=evil(9), error_message="x")

    body = viewer_client.get("/").content.decode()

    assert_text(section(body, "h-failures"), evil(9))


# --- job list -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx rows"])
def test_the_job_list_rows_show_every_vendor_text_as_text(viewer_client, headers):
    account = make_account(evil(11))
    make_job(account, name=evil(13), state=evil(14), batch=evil(15), tags=[evil(16), evil(17)], remote_id=evil(19))

    body = viewer_client.get("/jobs/", **headers).content.decode()

    for n in (11, 13, 14, 15, 16, 17, 19):
        assert_text(body, evil(n), f"(value {n})")


# --- detail and timeline ------------------------------------------------------------------


@pytest.fixture
def hostile_job(account):
    t = timezone.now() - timedelta(hours=3)
    linked = make_job(account, kind="voice_training", state="SUCCEED", name=evil(21))
    job = make_job(
        account,
        name=evil(23),
        state="TRAINING",
        linked_job_id=linked.remote_id,
        error_code=evil(25),
        error_message=evil(26),
        payload={"note": evil(27)},
    )
    # An op-log entry: its action is the step's label, its operator and message vendor text.
    make_event(job, t, action=evil(31), operator=evil(33), message=evil(34))
    # A state change the sync observed between two vendor states.
    make_event(job, t + timedelta(hours=1), source=JobEvent.Source.OBSERVED, from_state=evil(35), to_state=evil(36))
    # An entry with both a state and a different action: both shown.
    make_event(job, t + timedelta(hours=2), to_state=evil(37), action=evil(38), operator=evil(39), message=evil(40))
    return job


def test_the_detail_page_shows_the_jobs_fields_as_text(viewer_client, hostile_job):
    body = viewer_client.get(f"/jobs/{hostile_job.pk}/").content.decode()

    for n in (21, 23, 25, 26, 27):  # 27: in the raw payload's JSON
        assert_text(body, evil(n), f"(value {n})")


def test_the_timeline_shows_op_log_actions_operators_messages_and_states_as_text(viewer_client, hostile_job):
    body = viewer_client.get(f"/jobs/{hostile_job.pk}/").content.decode()
    timeline = section(body, "h-timeline")

    assert timeline.count('<li class="step') == 3
    for n in (31, 33, 34, 35, 36, 37, 38, 39, 40):
        assert_text(timeline, evil(n), f"in the timeline (value {n})")


def test_the_timelines_next_steps_fragment_shows_them_as_text_too(viewer_client, hostile_job):
    first = hostile_job.events.order_by("occurred_at").first()

    body = viewer_client.get(f"/jobs/{hostile_job.pk}/?after_event={first.pk}", **HX).content.decode()

    assert body.count('<li class="step') == 2
    for n in (35, 36, 37, 38, 39, 40):
        assert_text(body, evil(n), f"in the fragment (value {n})")
