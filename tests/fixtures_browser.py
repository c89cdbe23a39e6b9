"""Pages for the browser tests of issue #12's walk: a logged-in Chromium page at a desktop or a
phone size, in English or Chinese, as an operator or a viewer, over the synced fakecloud cache
of tests/test_browser.py (import its `browser` and `synced` fixtures beside this module's).

    from tests.fixtures_browser import SIZES, open_page, shot_as
    from tests.test_browser import browser, synced  # noqa: F401 - fixtures

    @pytest.mark.parametrize("size", SIZES)
    def test_x(browser, live_server, synced, size):
        pg = open_page(browser, live_server, size=size)
        ...
"""

import secrets
from itertools import count

from django.contrib.auth.models import Group, User

from tests.test_browser import ARTIFACTS

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = ["desktop", "phone"]
_seq = count(1)


def open_page(browser, live_server, size="desktop", lang="en", role="operator", username=None):
    """A new browser context logged in through the login form; `role` is operator, viewer or
    admin (a superuser with staff access). The page has .base (the server's URL), .user and
    .errors (page errors and console errors, which a test may assert empty)."""
    name = username or f"{role}-{next(_seq)}"
    password = secrets.token_urlsafe(12)
    if role == "admin":
        user = User.objects.create_superuser(name, password=password)
    else:
        user = User.objects.create_user(name, password=password)
        user.groups.add(Group.objects.get(name=role))
    context = browser.new_context(
        viewport=PHONE if size == "phone" else DESKTOP,
        locale="zh-CN" if lang == "zh" else "en-US",
        extra_http_headers={"Accept-Language": "zh-Hans" if lang == "zh" else "en"},
        accept_downloads=True,
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    pg.goto(live_server.url + "/accounts/login/")
    pg.fill("input[name=username]", name)
    pg.fill("input[name=password]", password)
    pg.locator("main form button[type=submit]").click()
    pg.wait_for_url(live_server.url + "/")
    pg.base = live_server.url
    pg.user = user
    return pg


def shot_as(pg, name):
    """A full-page screenshot in test-artifacts/ (name it page-size-lang)."""
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def page_width(pg) -> int:
    """How wide the page's content is (wider than the viewport means sideways scrolling)."""
    return pg.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
