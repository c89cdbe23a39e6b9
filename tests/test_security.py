"""Issue #11, findings 1 and 5: login throttling on both login pages, the security headers, no
caching of what a signed-in user saw, files under DATA_DIR for the owner only, and a
`check --deploy` with the README's production environment that warns about nothing."""

import io
import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from tests.fixtures_ui import make_account, make_job

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]
PASSWORD = "pw-Right-Horse-91"


@pytest.fixture
def staff(db):
    """Staff, so the admin's login page would let them in too."""
    return User.objects.create_user("stella", password=PASSWORD, is_staff=True)


@pytest.fixture(autouse=True)
def throttling(settings):
    """The defaults, whatever the environment running the tests says."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def log_in(client, path, password, username="stella", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def signed_in(client):
    return "_auth_user_id" in client.session


def access_attempts():
    """django-axes' record of failed logins (looked up by name: an app this test checks is installed)."""
    return apps.get_model("axes", "AccessAttempt").objects


def fail_many(client, path, times=30, username="stella", **extra):
    return [log_in(client, path, f"wrong-{i}", username=username, **extra).status_code for i in range(times)]


# --- login throttling -----------------------------------------------------------------------


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_it_refuses_the_right_password_after_thirty_wrong_ones(client, staff, path):
    statuses = fail_many(client, path)
    response = log_in(client, path, PASSWORD)

    assert response.status_code == 429
    assert not signed_in(client)
    assert statuses[:4] == [200] * 4  # the form again, with its error
    assert set(statuses[4:]) == {429}  # locked from the fifth failure on


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_it_still_lets_the_right_password_in_below_the_limit(client, staff, path):
    fail_many(client, path, times=4)
    response = log_in(client, path, PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_the_lockout_page_says_how_long_to_wait(client, staff):
    fail_many(client, "/accounts/login/", times=5)
    response = log_in(client, "/accounts/login/", PASSWORD)

    html = response.content.decode()
    assert response.status_code == 429
    assert "Too many failed sign-ins; try again in 15 minutes." in html
    assert '<link rel="stylesheet"' in html and 'href="/accounts/login/"' in html  # the site's page
    assert response["Retry-After"] == "900"
    assert PASSWORD not in html and "wrong-" not in html


def test_the_lockout_ends_after_the_cool_off(client, staff):
    fail_many(client, "/accounts/login/", times=5)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = log_in(client, "/accounts/login/", PASSWORD)
    assert response.status_code == 302


def test_a_lockout_is_per_username_and_address(client, staff):
    User.objects.create_user("otto", password=PASSWORD)
    fail_many(client, "/accounts/login/", times=5, REMOTE_ADDR="198.51.100.1")

    assert log_in(client, "/accounts/login/", PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 302
    client.logout()
    assert log_in(client, "/accounts/login/", PASSWORD, username="otto", REMOTE_ADDR="198.51.100.1").status_code == 302


def test_axes_reset_unlocks_everyone(client, staff):
    fail_many(client, "/accounts/login/", times=5)
    call_command("axes_reset", stdout=io.StringIO())

    assert log_in(client, "/accounts/login/", PASSWORD).status_code == 302


@pytest.fixture
def lockout_admin(db):
    """Staff with only the permissions to see lockouts and clear them."""
    user = User.objects.create_user("sam", password="pw-sam-Admin-7", is_staff=True)
    codenames = ["view_accessattempt", "delete_accessattempt", "view_accessfailurelog"]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="axes", codename__in=codenames))
    admin = Client()
    admin.force_login(user)
    return admin


def test_staff_see_and_clear_a_lockout_in_the_admin(client, staff, lockout_admin):
    fail_many(client, "/admin/login/", times=5)
    listing = lockout_admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "stella" in listing.content.decode() and "Locked Out" in listing.content.decode()

    history = lockout_admin.get("/admin/axes/accessfailurelog/")
    assert history.status_code == 200 and "stella" in history.content.decode()
    assert apps.get_model("axes", "AccessFailureLog").objects.filter(username="stella").count() == 5

    attempt = access_attempts().get(username="stella")
    assert PASSWORD not in attempt.post_data and "wrong-" not in attempt.post_data
    response = lockout_admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not access_attempts().exists()
    assert log_in(client, "/admin/login/", PASSWORD).status_code == 302


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_address_the_proxy_saw_is_locked_out(client, staff):
    # The proxy (10.0.0.9) appends the caller's address; what the caller put in front is ignored.
    for i in range(5):
        log_in(
            client,
            "/accounts/login/",
            "wrong",
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.7",
        )
    locked = log_in(client, "/accounts/login/", PASSWORD, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    other = log_in(client, "/accounts/login/", PASSWORD, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert set(access_attempts().values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert locked.status_code == 429
    assert other.status_code == 302


def test_without_a_proxy_a_forged_forwarded_for_changes_nothing(client, staff):
    for i in range(5):
        log_in(client, "/accounts/login/", "wrong", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    response = log_in(
        client, "/accounts/login/", PASSWORD, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="192.0.2.99"
    )
    assert response.status_code == 429


# --- headers --------------------------------------------------------------------------------


def csp_directives(response):
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/jobs/", "/admin/", "/accounts/login/"])
def test_every_page_has_a_strict_content_security_policy(admin_client, path):
    if path == "/accounts/login/":
        admin_client.logout()
    directives = csp_directives(admin_client.get(path))

    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


def test_htmx_evaluates_no_code_and_injects_no_style(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html


def test_signed_in_pages_fragments_and_the_export_are_not_stored(viewer_client):
    job = make_job(make_account())
    for path, headers in [
        ("/", {}),
        ("/jobs/", {}),
        ("/jobs/", {"HTTP_HX_REQUEST": "true"}),
        (f"/jobs/{job.pk}/", {}),
        ("/jobs/export.csv", {}),
        ("/preferences/", {}),
    ]:
        response = viewer_client.get(path, **headers)
        assert response.status_code == 200, path
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, (path, response["Cache-Control"])


def test_static_files_stay_cacheable(viewer_client):
    response = viewer_client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


@override_settings(SECURE_SSL_REDIRECT=True)
def test_the_https_redirect_spares_health_checks_and_metrics(client):
    assert client.get("/jobs/")["Location"] == "https://testserver/jobs/"
    for path in ("/healthz", "/metrics"):
        assert client.get(path).status_code != 301, path


# --- the production environment -------------------------------------------------------------

# The README's production environment (secrets made up for the test).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k7#Vx2!qP9$mZ4&wR8^tL1*yN6(bC3)hJ5_dF0+gS-aE=uI~oT",
    "CREDENTIALS_KEY": "Z0lVcFhtU2Z6bHJhbW9tQ0FkS2k4OXFwQW9kWHYxRFA=",
    "ALLOWED_HOSTS": "ops.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://ops.example.com",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "TRUSTED_PROXY_COUNT": "1",
}


def manage(tmp_path, *args, extra_env=None, code=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "AXES_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="dashboard.settings", **(extra_env or {}))
    env.pop("CELERY_BROKER_URL", None)
    command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_with_the_production_environment_warns_about_nothing(tmp_path):
    result = manage(tmp_path, "check", "--deploy", extra_env=PRODUCTION_ENV)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "identified some issues" not in output, output
    assert "System check identified no issues (0 silenced)." in output


def test_the_https_settings_come_from_the_environment(tmp_path):
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT,"
        "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.TRUSTED_PROXY_COUNT]))"
    )
    result = manage(tmp_path, extra_env=PRODUCTION_ENV, code=code)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        31536000,
        True,
        True,
        True,
        ["HTTP_X_FORWARDED_PROTO", "https"],
        True,
        1,
    ]


# --- files under DATA_DIR -------------------------------------------------------------------

# Migrate a fresh DATA_DIR, write a session, queue a message on the filesystem broker and take a
# vendor-quota token, then list what is group/world accessible while the databases are still open
# (so SQLite's -wal and -shm files exist).
FILES_SCRIPT = """
import json, os, stat, sys
import django
django.setup()
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
call_command("migrate", verbosity=0)
session = SessionStore(); session["x"] = 1; session.save()
from dashboard.celery import app
app.send_task("jobs.tasks.dispatch_due_syncs")
from jobs.providers import quota
quota.governor("tenant", 50).acquire()
found = []
for folder, dirs, files in os.walk(settings.DATA_DIR):
    for name in dirs + files:
        path = os.path.join(folder, name)
        found.append([os.path.relpath(path, settings.DATA_DIR), stat.S_IMODE(os.lstat(path).st_mode)])
print(json.dumps(found))
"""


def open_to_others(data_dir):
    return {
        str(path.relative_to(data_dir)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in [data_dir, *data_dir.rglob("*")]
        if stat.S_IMODE(path.lstat().st_mode) & 0o077
    }


def test_a_fresh_data_dir_is_readable_by_its_owner_only(tmp_path):
    result = manage(tmp_path, code=FILES_SCRIPT)
    assert result.returncode == 0, result.stderr

    while_open = dict(json.loads(result.stdout.splitlines()[-1]))
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "quota.sqlite3", "secret_key", "credentials_key"):
        assert name in while_open, sorted(while_open)
    assert any(name.startswith("broker/queue/") for name in while_open), sorted(while_open)
    assert {name: oct(mode) for name, mode in while_open.items() if mode & 0o077} == {}
    assert open_to_others(tmp_path / "data") == {}
