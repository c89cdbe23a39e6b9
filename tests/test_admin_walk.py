"""Issue #12, finding 16: the admin as a new operator meets it. A cloud account's form shows only
the chosen cloud's fields (and the server drops the other cloud's), labels are capitalised
alike, messages keep account names as written, a wrong secret saves with a warning, the periodic
task names its task, and dates read as in the app (Y-m-d H:i)."""

import os
import re
from datetime import UTC, datetime

import pytest

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django_celery_beat.models import PeriodicTask  # noqa: E402

from jobs.forms_admin import CloudAccountForm  # noqa: E402
from jobs.models import CloudAccount  # noqa: E402
from tests import test_browser  # noqa: E402
from tests.test_admin import ADD_URL, change_url, huawei_post  # noqa: E402
from tests.test_browser import browser  # noqa: E402,F401 - fixture

WRONG_SECRET = "sk-Wrong-Secret-Value-000000"


def account_post(account, **overrides):
    """The change form as a browser would send it for `account` (secrets left blank: kept)."""
    fields = ("name", "provider", "region", "endpoint", "project_id", "bucket", "queue_id", "list_path")
    current = {name: getattr(account, name) for name in fields}
    return huawei_post(
        **{**current, "access_key_id": account.access_key_id, "secret_key": "", "kinds": account.kinds, **overrides}
    )


# Real commits: the check runs once the admin's transaction has committed (a vendor call must
# not hold the database's write lock), and its message still reaches the next page.
@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_saves_with_a_warning(admin_client, fakecloud, fc_accounts):
    hw, _ = fc_accounts

    response = admin_client.post(
        change_url(hw), account_post(hw, secret_key=WRONG_SECRET, check_credentials="on"), follow=True
    )

    html = response.content.decode()
    # As written: Django's admin would show "Fc-huawei".
    assert "fc-huawei was saved, but the cloud refused its credentials" in html, html[:3000]
    assert 'class="warning"' in html
    assert WRONG_SECRET not in html
    hw.refresh_from_db()
    assert hw.get_secret_key() == WRONG_SECRET  # saved anyway: the operator decides

    fakecloud.reset_counters()
    response = admin_client.post(
        change_url(hw),
        account_post(hw, secret_key=fakecloud.huawei["sk"], check_credentials="on"),
        follow=True,
    )
    assert "fc-huawei: the credentials work." in response.content.decode()


@pytest.mark.django_db
def test_a_save_without_the_box_ticked_makes_no_call(admin_client, fakecloud, fc_accounts):
    hw, _ = fc_accounts
    fakecloud.reset_counters()

    response = admin_client.post(change_url(hw), account_post(hw, secret_key=WRONG_SECRET))

    assert response.status_code == 302
    assert not any(v for k, v in fakecloud.counters().items() if "." in k)


@pytest.mark.django_db
def test_the_other_clouds_fields_are_not_saved(admin_client):
    response = admin_client.post(ADD_URL, huawei_post(bucket="media-1250000000", queue_id="p1"))

    assert response.status_code == 302, response.content.decode()[:2000]
    account = CloudAccount.objects.get(name="hw-new")
    assert (account.bucket, account.queue_id) == ("", "")


@pytest.mark.django_db
def test_the_form_labels_are_capitalised_alike(admin_client):
    form = CloudAccountForm()
    lower = [str(field.label) for field in form.fields.values() if not str(field.label)[:1].isupper()]
    assert not lower

    html = admin_client.get(ADD_URL).content.decode()
    assert "js/admin_account.js" in html
    assert re.search(r'<fieldset class="[^"]*\bcloud-huawei\b', html)
    assert re.search(r'<fieldset class="[^"]*\bcloud-tencent\b', html)


@pytest.mark.django_db
def test_admin_dates_read_as_in_the_app(admin_client, huawei_account):
    huawei_account.last_success_at = datetime(2026, 1, 5, 8, 7, tzinfo=UTC)
    huawei_account.save()

    html = admin_client.get("/admin/jobs/cloudaccount/").content.decode()

    assert "2026-01-05 08:07" in html, re.findall(r"field-last_success_at[^<]*<[^>]*>[^<]*", html)


@pytest.mark.django_db
def test_the_periodic_task_names_its_task(admin_client):
    task = PeriodicTask.objects.get(name="Dispatch due syncs")

    html = admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").content.decode()

    select = re.search(r'<select name="regtask".*?</select>', html, re.S).group(0)
    assert re.search(r'<option value="jobs.dispatch_due_syncs" selected>', select), select[:500]
    listing = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "jobs.dispatch_due_syncs" in listing


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(any(m.name == "skip" for m in test_browser.pytestmark), reason="no Chromium")
def test_the_account_form_shows_only_the_chosen_clouds_fields(browser, live_server, admin_user):  # noqa: F811
    admin_user.set_password("pw-Admin-Walk-16")
    admin_user.save()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(live_server.url + "/admin/login/?next=" + ADD_URL)
    pg.fill("input[name=username]", admin_user.username)
    pg.fill("input[name=password]", "pw-Admin-Walk-16")
    with pg.expect_navigation():
        pg.locator("#login-form [type=submit]").click()
    assert pg.url.endswith(ADD_URL), pg.url

    def visible(field):
        return pg.locator(f"#id_{field}").is_visible()

    pg.select_option("#id_provider", "huawei")
    assert visible("project_id") and visible("iam_user")
    assert not visible("bucket") and not visible("queue_id")
    pg.select_option("#id_provider", "tencent")
    assert visible("bucket") and visible("queue_id")
    assert not visible("project_id") and not visible("iam_user")
    assert visible("secret_key") and visible("region")  # shared by both
    assert not errors
    context.close()
