"""Issue #14 item 4 in Chromium over the synced fakecloud cache: the change feed shows the state
changes newest first with those since the user's mark highlighted, the job list highlights the
jobs that changed since then and says how many changes there were, and "Mark all as seen" clears
the highlights. Screenshots at both sizes in both languages."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs.lastseen_models import LastSeen  # noqa: E402
from jobs.models import Job, JobEvent  # noqa: E402
from jobs.status import moving_states  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.test_browser import ARTIFACTS, browser, synced  # noqa: E402,F401 - fixtures
from tests.test_browser_a11y import axe_violations  # noqa: E402

pytestmark = list(test_browser.pytestmark)
CHANGES = 12  # state changes made up below, one every 15 minutes back from now
MARK = timedelta(hours=1, minutes=40)  # the user last looked this long ago: 6 of them are newer


def make_changes():
    """The state changes a later sync would have seen: the newest job of each status moved into
    its current state, one every 15 minutes (the job's state_changed_at moves with it)."""
    now = timezone.now()
    jobs = list(Job.objects.filter(gone=False).order_by("-updated_at", "-id")[:CHANGES])
    assert len(jobs) == CHANGES
    for i, job in enumerate(jobs):
        when = now - timedelta(minutes=15 * i + 5)
        JobEvent.objects.create(
            job=job,
            occurred_at=when,
            source=JobEvent.Source.OBSERVED,
            from_state=moving_states(job.kind)[0],
            to_state=job.state,
            details={"status": job.status},
            key=f"browser-change-{job.pk}",
        )
        Job.objects.filter(pk=job.pk).update(state_changed_at=when)
    return now


# The element that sticks out furthest on the right (for a failure message).
WIDEST = (
    "[...document.querySelectorAll('body *')].map(e => [e.getBoundingClientRect().right, e.tagName + '.' +"
    " e.className]).sort((a, b) => b[0] - a[0]).slice(0, 5)"
)


def seen_long_ago(pg, now):
    LastSeen.objects.filter(user=pg.user).update(seen_at=now - MARK, visit_at=now)


@pytest.mark.parametrize("size", SIZES)
def test_changes_since_the_last_visit_are_highlighted(browser, live_server, synced, size):  # noqa: F811
    now = make_changes()
    newer = sum(1 for i in range(CHANGES) if timedelta(minutes=15 * i + 5) < MARK)

    pg = open_page(browser, live_server, size=size, role="viewer")
    seen_long_ago(pg, now)
    pg.goto(pg.base + "/changes/")
    rows = pg.locator("table.changes tbody tr")
    assert rows.count() == CHANGES
    assert pg.locator("table.changes tr.changed").count() == newer
    times = rows.locator("time").evaluate_all("ts => ts.map(t => t.getAttribute('datetime'))")
    assert times == sorted(times, reverse=True)  # newest first
    assert f"{newer} changes since your last visit" in pg.locator("#since-note").inner_text()
    assert pg.get_by_role("link", name="Changes", exact=True).get_attribute("aria-current") == "page"
    shot_as(pg, f"changes-{size}-en")
    assert axe_violations(pg) == []
    if size == "phone":
        assert page_width(pg) <= 390, pg.evaluate(WIDEST)

    # The job list: the same jobs highlighted, each saying so to a screen reader.
    pg.goto(pg.base + "/jobs/")
    changed = pg.locator("#job-rows tr.changed")
    assert changed.count() >= 1
    assert "changed since your last visit" in changed.first.locator(".sr-only").text_content()
    assert pg.locator("#since-note").get_by_role("link").get_attribute("href") == "/changes/"
    assert axe_violations(pg) == []
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"joblist-changes-{size}-en")
    pg.screenshot(path=str(ARTIFACTS / f"joblist-changes-{size}-en-top.png"))  # what the eye meets first

    pg.goto(pg.base + "/")
    assert f"{newer} changes since your last visit" in pg.locator("#since-note").inner_text()
    shot_as(pg, f"overview-changes-{size}-en")

    # Marking all as seen comes back to the list without highlights.
    pg.goto(pg.base + "/jobs/")
    with pg.expect_navigation():
        pg.get_by_role("button", name="Mark all as seen").click()
    assert pg.url.endswith("/jobs/")
    assert pg.locator("#job-rows tr.changed").count() == 0
    assert "No changes since your last visit." in pg.locator("#since-note").inner_text()
    assert pg.errors == []

    zh = open_page(browser, live_server, size=size, lang="zh", role="viewer")
    seen_long_ago(zh, now)
    zh.goto(zh.base + "/changes/")
    assert zh.locator("table.changes tr.changed").count() == newer
    if size == "phone":
        assert page_width(zh) <= 390
    shot_as(zh, f"changes-{size}-zh")
    zh.goto(zh.base + "/jobs/")
    assert zh.locator("#job-rows tr.changed").count() >= 1
    shot_as(zh, f"joblist-changes-{size}-zh")
    zh.screenshot(path=str(ARTIFACTS / f"joblist-changes-{size}-zh-top.png"))
    assert zh.errors == []


def test_the_feed_filters_and_pages_in_the_browser(browser, live_server, synced):  # noqa: F811
    make_changes()
    pg = open_page(browser, live_server, role="viewer")
    kinds = set(JobEvent.objects.filter(source="observed").values_list("job__kind", flat=True))
    kind = sorted(kinds)[0]
    pg.goto(pg.base + f"/changes/?kind={kind}")
    n = JobEvent.objects.filter(source="observed", job__kind=kind).count()
    assert pg.locator("table.changes tbody tr[id^=change-]").count() == n
    assert pg.locator(".dropdown[data-field=kind] summary").inner_text().startswith("Kind")
    pg.goto(pg.base + "/changes/?kind=nonsense")
    assert "kind" in pg.locator("main").inner_text().lower()
    assert pg.errors == [] or all("400" in e for e in pg.errors)
