"""Saved views (issue #14, item 5) in Chromium over the synced fakecloud cache: filter the job
list, save it as a view, find it in the navigation's Views menu, open it and get the same URL
and rows; another user sees it only once shared. Screenshots of /views/ and of the open menu at
both sizes in both languages."""

import os
import re
from urllib.parse import parse_qsl, urlparse

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from jobs.savedview_models import SavedView  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.fixtures_browser import SIZES, open_page, page_width, shot_as  # noqa: E402
from tests.test_browser import browser, expected_ids, row_ids, synced, wait_rows  # noqa: E402,F401 - fixtures

pytestmark = list(test_browser.pytestmark)


def _filters(url):
    return sorted(parse_qsl(urlparse(url).query))


def _open_nav_menu(pg):
    menu = pg.locator("nav.mainnav details.navmenu")
    menu.locator("summary").click()
    menu.locator(".menu").wait_for()
    return menu


@pytest.mark.parametrize("size", SIZES)
def test_a_saved_view_opens_the_same_filtered_list(browser, live_server, synced, size):  # noqa: F811
    pg = open_page(browser, live_server, size=size)
    pg.goto(pg.base + "/jobs/")
    pg.locator("details[data-field=status] summary").click()
    pg.get_by_label("Failed", exact=True).check()
    pg.wait_for_url(re.compile(r"status=failed"))
    pg.locator("details[data-field=kind] summary").click()
    pg.get_by_label("Avatar training", exact=True).check()
    pg.wait_for_url(re.compile(r"kind=avatar_training"))
    wanted = expected_ids(status=["failed"], kind=["avatar_training"])
    assert wanted, "fakecloud should have failed avatar jobs"
    wait_rows(pg, wanted)
    original = pg.url
    pg.mouse.click(5, 300)  # close the filter menus

    save = pg.locator("details.save-view")
    save.locator("summary").click()
    save.get_by_label("Name").fill("Failed avatars")
    save.get_by_label("Share with everyone").check()
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"savedview-save-{size}-en")
    with pg.expect_navigation():
        save.get_by_role("button", name="Save").click()
    pg.get_by_text("Saved the view “Failed avatars”.").wait_for()
    assert _filters(pg.url) == _filters(original)
    assert urlparse(pg.url).path == "/jobs/"
    assert row_ids(pg) == wanted
    view = SavedView.objects.get()
    assert (view.owner, view.shared) == (pg.user, True)

    # The navigation lists it; it opens as the same URL with the same rows.
    pg.goto(pg.base + "/")
    menu = _open_nav_menu(pg)
    link = menu.get_by_role("link", name="Failed avatars")
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"savedview-nav-{size}-en")
    with pg.expect_navigation():
        link.click()
    assert _filters(pg.url) == _filters(original)
    wait_rows(pg, wanted)
    assert pg.get_by_label("Failed", exact=True).is_checked()
    assert pg.errors == []

    # /views/ lists it with its forms; another user sees it only while it is shared.
    pg.goto(pg.base + "/views/")
    item = pg.locator(f"#view-{view.pk}")
    assert "Shared" in item.inner_text()
    if size == "phone":
        assert page_width(pg) <= 390
    shot_as(pg, f"savedview-page-{size}-en")
    other = open_page(browser, live_server, size=size, role="viewer")
    other.goto(other.base + "/views/")
    assert other.get_by_role("link", name="Failed avatars").count() == 1
    assert other.locator(f"form[action='/views/{view.pk}/delete/']").count() == 0
    item.get_by_role("button", name="Stop sharing").click()
    pg.get_by_text("Saved the view “Failed avatars”.").wait_for()
    other.reload()
    assert other.get_by_role("link", name="Failed avatars").count() == 0


@pytest.mark.parametrize("size", SIZES)
def test_the_views_page_and_menu_in_chinese(browser, live_server, synced, size):  # noqa: F811
    zh = open_page(browser, live_server, size=size, lang="zh")
    other = open_page(browser, live_server, size=size, role="viewer")
    SavedView.objects.create(
        owner=zh.user, name="失败的翻译任务", page="job_list", query="kind=translation&status=failed"
    )
    SavedView.objects.create(owner=zh.user, name="Stages this week", page="stages", query="window=7d", shared=True)
    SavedView.objects.create(owner=other.user, name="Huawei failures", page="triage", query="cloud=huawei", shared=True)
    zh.goto(zh.base + "/views/")
    zh.locator("h1").wait_for()
    assert zh.get_by_role("link", name="Huawei failures").count() == 1
    if size == "phone":
        assert page_width(zh) <= 390
    shot_as(zh, f"savedview-page-{size}-zh")
    menu = _open_nav_menu(zh)
    texts = menu.locator(".menu a").all_inner_texts()  # mine by name, then the shared ones, then /views/
    assert [t.split(" ·")[0].strip() for t in texts[:3]] == ["Stages this week", "失败的翻译任务", "Huawei failures"]
    shot_as(zh, f"savedview-nav-{size}-zh")
    with zh.expect_navigation():
        menu.get_by_role("link", name=re.compile("Huawei failures")).click()
    assert urlparse(zh.url).path == "/triage/" and _filters(zh.url) == [("cloud", "huawei")]
    assert zh.errors == []


@pytest.mark.parametrize("size", SIZES)
def test_the_other_filterable_pages_save_their_filters_too(browser, live_server, synced, size):  # noqa: F811
    pg = open_page(browser, live_server, size=size)
    for path, query in [
        ("/triage/", "cloud=huawei"),
        ("/batches/", "dimension=tag&cloud=huawei"),
        ("/stages/", "kind=voice_training&window=7d"),
    ]:
        pg.goto(pg.base + path + "?" + query)
        save = pg.locator("details.save-view")
        save.locator("summary").click()
        name = f"{path.strip('/')} view"
        save.get_by_label("Name").fill(name)
        if size == "phone":
            assert page_width(pg) <= 390
        shot_as(pg, f"savedview-save-{path.strip('/')}-{size}-en")
        with pg.expect_navigation():
            save.get_by_role("button", name="Save").click()
        pg.get_by_text(f"Saved the view “{name}”.").wait_for()
        assert urlparse(pg.url).path == path
        assert _filters(pg.url) == sorted(parse_qsl(query))
    assert pg.errors == []
