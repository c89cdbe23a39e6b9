"""Issue #13, item 1 in Chromium over the synced fakecloud cache: the overview's "Failures this
week" card and the triage page group the failed jobs; a group opens the job list showing
exactly its jobs. Screenshots of the triage page at both sizes in both languages."""

import os

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs.models import Job  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, shot_as  # noqa: E402
from tests.test_browser import browser, row_ids, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)


@pytest.mark.parametrize("size", SIZES)
def test_failures_are_grouped_and_a_group_opens_exactly_its_jobs(browser, live_server, synced, size):  # noqa: F811
    failed = Job.objects.filter(status="failed", gone=False)
    assert failed.exclude(failure_group="").count() == failed.count() > 0

    pg = open_page(browser, live_server, size=size)
    card = pg.locator("section[aria-labelledby=h-triage]")
    assert card.locator("tbody tr").count() >= 1

    pg.goto(pg.base + "/triage/")
    groups = pg.locator("tr.failure-group")
    n_groups = failed.values("failure_group").distinct().count()
    assert groups.count() == n_groups
    shot_as(pg, f"triage-{size}-en")

    # The first group opens the list filtered to exactly its jobs.
    link = pg.locator('tr.failure-group a.group-link[href*="failure="]').first
    with pg.expect_navigation():
        link.click()
    shown_group = Job.objects.get(pk=row_ids(pg)[0]).failure_group
    assert set(row_ids(pg)) == set(failed.filter(failure_group=shown_group).values_list("pk", flat=True))
    assert pg.locator(".active-filter code").inner_text() == shown_group
    assert pg.errors == []

    zh = open_page(browser, live_server, size=size, lang="zh")
    zh.goto(zh.base + "/triage/")
    zh.get_by_role("heading", name="失败分诊").wait_for()
    shot_as(zh, f"triage-{size}-zh")
