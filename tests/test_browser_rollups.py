"""Issue #13, item 2 in Chromium over the synced fakecloud cache: the batches page shows each
batch's progress as one bar with its numbers, the tags tab, and a batch opens the job list of
exactly its jobs with the same roll-up on top. Screenshots at both sizes in both languages."""

import os

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs import batches  # noqa: E402
from jobs.models import Job  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.test_browser import browser, row_ids, synced  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)


@pytest.mark.parametrize("size", SIZES)
def test_batches_show_progress_and_open_exactly_their_jobs(browser, live_server, synced, size):  # noqa: F811
    live = Job.objects.filter(gone=False).exclude(batch="")
    names = set(live.values_list("batch", flat=True))
    assert names  # fakecloud gives avatar and voice jobs batch names

    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/batches/")
    rows = pg.locator("tr.rollup")
    assert {rows.nth(i).locator("a.rollup-link").inner_text() for i in range(rows.count())} == names
    # The bar of the largest batch names every segment with its count, in its label.
    biggest = max(names, key=lambda n: live.filter(batch=n).count())
    row = rows.filter(has=pg.get_by_role("link", name=biggest, exact=True))
    label = row.locator("svg.rollup-bar").get_attribute("aria-label")
    expected = live.filter(batch=biggest, status="succeeded").count()
    assert f"Succeeded {expected}" in label
    assert f"of {live.filter(batch=biggest).count()} settled" in row.inner_text()
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"batches-{size}-en")

    with pg.expect_navigation():
        row.locator("a.rollup-link").click()
    assert set(row_ids(pg)) | set() <= set(live.filter(batch=biggest).values_list("pk", flat=True))
    head = pg.locator(".rollup-head")
    total = batches.line("batch", biggest, {}).total
    assert f"of {total} settled" in head.inner_text()
    shot_as(pg, f"batch-list-{size}-en")

    pg.goto(pg.base + "/batches/?dimension=tag")
    tags = {t for job in Job.objects.filter(gone=False) for t in job.tags or []}
    assert pg.locator("tr.rollup").count() == len(tags)
    assert pg.errors == []

    zh = open_page(browser, live_server, size=size, lang="zh")
    zh.goto(zh.base + "/batches/")
    zh.get_by_role("heading", name="批次").wait_for()
    if size == "phone":
        assert page_width(zh) <= 390
    shot_as(zh, f"batches-{size}-zh")
