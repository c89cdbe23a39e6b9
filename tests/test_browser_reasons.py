"""Issue #12, findings 1 and 8 in Chromium: a failed job says why in the overview, the list and
the CSV, and the CSV has the start, finish and duration of each job (Huawei's from its op-logs),
at desktop and phone sizes over the synced fakecloud cache."""

import csv
import io
import os

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, shot_as  # noqa: E402
from tests.test_browser import browser, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)

PASSWORD = "pw-Reasons-42"
REASON = "training worker exited with code 137"  # fakecloud's TRAIN_FAILED op-log entry


def logged_in(pg):
    """On the overview, logged in. open_page's login clicks the first submit button of the page,
    which is the header's language switch: until it picks the login form's, log in here."""
    pg.goto(pg.base + "/")
    if "/accounts/login/" in pg.url:
        pg.user.set_password(PASSWORD)
        pg.user.save()
        pg.fill("input[name=username]", pg.user.username)
        pg.fill("input[name=password]", PASSWORD)
        pg.locator("main form button[type=submit]").click()
        pg.wait_for_url(pg.base + "/")


@pytest.mark.parametrize("size", SIZES)
def test_a_failed_job_says_why_in_the_overview_the_list_and_the_csv(browser, live_server, synced, size):  # noqa: F811
    pg = open_page(browser, live_server, size=size)
    logged_in(pg)

    # The overview: every recent failure has its reason under its name.
    failures = pg.locator("section[aria-labelledby=h-failures] tbody tr")
    assert failures.count() > 0
    for i in range(failures.count()):
        assert failures.nth(i).locator(".reason").inner_text().strip(), failures.nth(i).inner_text()
    shot_as(pg, f"reasons-overview-{size}-en")

    # The list: the failed avatar jobs, each with its reason beside its state.
    pg.goto(pg.base + "/jobs/?kind=avatar_training&status=failed")
    rows = pg.locator("tr[id^=job-]")
    assert rows.count() > 0
    for i in range(rows.count()):
        assert rows.nth(i).locator(".reason").inner_text().strip(), rows.nth(i).inner_text()
    train_failed = rows.filter(has_text="TRAIN_FAILED").first
    assert REASON in train_failed.locator(".reason").inner_text()
    assert train_failed.locator(".reason").is_visible()
    shot_as(pg, f"reasons-list-{size}-en")

    # The CSV behind the list's "Export CSV": the reason and the times of every failed avatar job.
    href = pg.locator("a[download]", has_text="CSV").first.get_attribute("href")
    response = pg.request.get(pg.base + href)
    assert response.ok
    rows = list(csv.DictReader(io.StringIO(response.body().decode("utf-8-sig"))))
    assert rows and {"started_at", "finished_at", "duration_seconds"} <= set(rows[0])
    assert all(row["error_message"] for row in rows), [r for r in rows if not r["error_message"]]
    row = next(r for r in rows if r["state"] == "TRAIN_FAILED")
    assert row["error_message"] == REASON
    assert row["started_at"] and row["finished_at"] and int(row["duration_seconds"]) > 0
    pg.context.close()
