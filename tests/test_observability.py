"""/healthz, /healthz/details and /metrics (jobs/health.py, jobs/metrics.py): the checks against
real components (an unreachable Redis port, a database that cannot be reached, a stale
heartbeat), who may read the details and metrics, and metric values that match hand-made rows."""

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from jobs import health, tasks
from jobs.models import Heartbeat, SyncRun
from tests.fixtures_stack import REDIS_URL, ROOT, base_env
from tests.fixtures_ui import make_account, make_job, make_run

pytestmark = pytest.mark.django_db

TOKEN = "tok-0123456789abcdef-metrics"
BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
CLOSED_PORT_REDIS = "redis://:broker-pass-7f3a9c@127.0.0.1:1/0"
NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def monitoring(settings):
    """A token configured, no allow-list, the in-memory broker, nothing cached."""
    settings.METRICS_TOKENS = [TOKEN]
    settings.METRICS_ALLOW = []
    settings.HEALTH_DISPATCHER_MAX_AGE = 0
    cache.clear()
    yield settings
    cache.clear()


def beat(seconds_ago=0.0):
    Heartbeat.objects.update_or_create(
        name="dispatcher", defaults={"at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def scrape(client, **headers):
    response = client.get("/metrics", **(headers or BEARER))
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


# --- /healthz -------------------------------------------------------------------------------


def test_it_answers_ok_to_anyone_when_every_check_passes(client):
    beat()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-store" in response["Cache-Control"]


def test_it_names_the_failing_check_and_nothing_else(client, monitoring):
    beat()
    monitoring.CELERY_BROKER_URL = CLOSED_PORT_REDIS
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"unhealthy: broker\n"


def test_the_details_give_each_checks_reason_without_the_broker_password(client, monitoring):
    beat(seconds_ago=12)
    monitoring.CELERY_BROKER_URL = CLOSED_PORT_REDIS
    response = client.get("/healthz/details", **BEARER)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert "OperationalError" in body["checks"]["broker"]["error"]
    assert body["checks"]["dispatcher"]["ok"] is True
    assert 12 <= body["checks"]["dispatcher"]["age_seconds"] < 90
    assert body["checks"]["dispatcher"]["max_age_seconds"] == 90
    assert all("latency_ms" in check for check in body["checks"].values())
    assert "broker-pass" not in response.content.decode()


def test_a_reason_never_holds_a_password_from_the_settings(monitoring):
    monitoring.CELERY_BROKER_URL = CLOSED_PORT_REDIS
    assert health.scrub(f"cannot reach {CLOSED_PORT_REDIS} with {TOKEN}") == (
        "cannot reach redis://:***@127.0.0.1:1/0 with ***"
    )


def test_it_passes_with_a_real_redis_broker(client, monitoring):
    beat()
    monitoring.CELERY_BROKER_URL = REDIS_URL
    assert client.get("/healthz").status_code == 200


def test_the_embedded_broker_needs_its_folders_writable(client, monitoring, tmp_path):
    beat()
    folders = {key: tmp_path / key for key in ("data_folder_in", "data_folder_out", "unacked_folder")}
    for path in folders.values():
        path.mkdir()
    monitoring.CELERY_BROKER_URL = "filesystem://"
    monitoring.CELERY_BROKER_TRANSPORT_OPTIONS = {key: str(path) for key, path in folders.items()}
    assert client.get("/healthz").status_code == 200

    folders["unacked_folder"].rmdir()
    response = client.get("/healthz/details", **BEARER)
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["error"] == "not a writable folder: unacked_folder"


def test_a_stale_heartbeat_is_unhealthy_after_three_dispatch_periods(client):
    with time_machine.travel(NOW, tick=False):
        beat(seconds_ago=90)
        assert client.get("/healthz").status_code == 200
        beat(seconds_ago=91)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"unhealthy: dispatcher\n"


def test_no_heartbeat_at_all_is_unhealthy(client):
    response = client.get("/healthz/details", **BEARER)
    assert response.status_code == 503
    assert response.json()["checks"]["dispatcher"]["error"] == "no heartbeat yet"


def test_the_limit_follows_the_dispatch_schedule_or_the_setting(client, monitoring):
    task = PeriodicTask.objects.get(task="jobs.dispatch_due_syncs")
    task.interval.every = 60
    task.interval.save()
    assert health.dispatcher_max_age() == 180
    monitoring.HEALTH_DISPATCHER_MAX_AGE = 600
    assert health.dispatcher_max_age() == 600


def test_no_dispatcher_is_expected_when_its_schedule_is_disabled(client):
    PeriodicTask.objects.filter(task="jobs.dispatch_due_syncs").update(enabled=False)
    response = client.get("/healthz/details", **BEARER)
    assert response.status_code == 200
    dispatcher = response.json()["checks"]["dispatcher"]
    assert dispatcher["ok"] is True and dispatcher["disabled"] is True


def test_the_dispatcher_task_beats(client):
    tasks.dispatch_due_syncs()
    at = Heartbeat.objects.get(name="dispatcher").at
    assert timezone.now() - at < timedelta(minutes=1)
    assert client.get("/healthz").status_code == 200


def test_a_load_balancer_can_ask_for_some_checks_only(client, monitoring):
    monitoring.CELERY_BROKER_URL = CLOSED_PORT_REDIS  # and no heartbeat
    assert client.get("/healthz?check=database").content == b"ok\n"
    assert client.get("/healthz?check=database&check=broker").content == b"unhealthy: broker\n"
    assert client.get("/healthz?check=nonsense").status_code == 400


def test_a_database_that_cannot_be_reached_fails_health_and_metrics(tmp_path):
    # A process of its own: its database is PostgreSQL on a closed port.
    env = base_env(tmp_path)
    env.update(DATABASE_URL="postgres://ops:db-pass-91c2e7@127.0.0.1:1/ops", METRICS_TOKEN=TOKEN)
    code = (
        "import json, os, django; django.setup(); from django.test import Client;"
        "c = Client(HTTP_HOST='localhost', HTTP_AUTHORIZATION='Bearer ' + os.environ['METRICS_TOKEN']);"
        "print(json.dumps([(p, *(lambda r: (r.status_code, r.content.decode()))(c.get(p)))"
        " for p in ('/healthz', '/healthz/details', '/metrics')]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = {path: (status, body) for path, status, body in json.loads(result.stdout.splitlines()[-1])}
    assert answers["/healthz"] == (503, "unhealthy: database dispatcher\n")
    status, body = answers["/healthz/details"]
    checks = json.loads(body)["checks"]
    assert status == 503 and checks["database"]["ok"] is False and checks["broker"]["ok"] is True
    assert answers["/metrics"] == (503, "database unavailable\n")
    assert "db-pass" not in result.stdout + result.stderr


# --- who may read details and metrics ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/healthz/details"])
def test_both_are_off_while_neither_a_token_nor_an_allow_list_is_set(client, monitoring, path):
    monitoring.METRICS_TOKENS = []
    assert client.get(path).status_code == 404
    assert client.get(path, **BEARER).status_code == 404


@pytest.mark.parametrize("path", ["/metrics", "/healthz/details"])
def test_they_need_the_token(client, viewer, path):
    beat()
    refused = client.get(path)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="monitoring"'
    assert client.get(path, HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1] + "X").status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Basic " + TOKEN).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Bearer").status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Bearer é").status_code == 401
    assert client.get(path, **BEARER).status_code == 200
    client.force_login(viewer)  # a signed-in user is not a scraper
    assert client.get(path).status_code == 401


def test_a_second_token_serves_a_rotation(client, monitoring):
    monitoring.METRICS_TOKENS = ["new-token-0123456789abcdef", TOKEN]
    assert client.get("/metrics", **BEARER).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer new-token-0123456789abcdef").status_code == 200


def test_an_allowed_address_needs_no_token(client, monitoring):
    monitoring.METRICS_TOKENS = []
    monitoring.METRICS_ALLOW = ["10.1.0.0/16", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    # Without trusted proxies a forwarded address is only a claim.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_behind_a_trusted_proxy_the_address_it_was_called_from_counts(client, monitoring):
    monitoring.METRICS_TOKENS = []
    monitoring.METRICS_ALLOW = ["10.1.0.0/16"]
    monitoring.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3", **proxy).status_code == 200
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9", **proxy).status_code == 403


def test_bad_monitoring_settings_stop_the_start():
    for name, bad in (("METRICS_ALLOW", "10.0.0.0/33"), ("METRICS_TOKEN", "short")):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", name: bad}
        code = "import django; django.setup()"
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode != 0
        assert f"ImproperlyConfigured: {name}" in result.stderr


# --- /metrics -------------------------------------------------------------------------------


def _runs_of_a_morning(huawei, tencent):
    """Frozen at NOW (10:30): runs before and after the hour, of every outcome and mode."""
    at = NOW - timedelta(hours=2)
    make_run(
        huawei, mode="full", outcome="succeeded", api_calls=10, throttled=2, failed_calls=3,
        started_at=at, finished_at=at + timedelta(seconds=40),
    )  # fmt: skip
    at = NOW - timedelta(minutes=10)
    make_run(
        huawei, mode="incremental", outcome="failed", api_calls=4, throttled=1, failed_calls=4,
        started_at=at, finished_at=at + timedelta(seconds=4), error_message="HTTP 429: slow down",
    )  # fmt: skip
    at = NOW - timedelta(minutes=1)  # a one-job refresh is not a sync of the kind
    make_run(huawei, mode="refresh", outcome="succeeded", api_calls=2, started_at=at, finished_at=at)
    at = NOW - timedelta(minutes=5)  # full (the default mode), but no duration to speak of
    make_run(huawei, outcome="skipped", started_at=at, finished_at=at)
    make_run(huawei, outcome="running", api_calls=99, started_at=NOW - timedelta(seconds=30))
    make_run(huawei, outcome="queued")
    at = NOW - timedelta(minutes=20)
    make_run(
        tencent, kind="translation", mode="incremental", outcome="succeeded", api_calls=1,
        started_at=at, finished_at=at + timedelta(seconds=3),
    )  # fmt: skip


@pytest.mark.db_sensitive
def test_the_metrics_match_the_rows(client):
    with time_machine.travel(NOW, tick=False):
        huawei = make_account("huawei-main", lease_owner="w1", lease_until=NOW + timedelta(minutes=1))
        tencent = make_account("tencent-ci", provider="tencent", enabled=False)
        _runs_of_a_morning(huawei, tencent)
        for status in ("running", "running", "succeeded"):
            make_job(huawei, status=status)
        make_job(huawei, status="succeeded", gone=True)
        make_job(tencent, kind="translation", status="failed")
        beat(seconds_ago=10)
        m = scrape(client)

    hw, avatar = {"account": "huawei-main"}, {"account": "huawei-main", "kind": "avatar_training"}
    ci = {"account": "tencent-ci", "kind": "translation"}
    assert value(m, "tod_sync_runs_total", **avatar, outcome="succeeded") == 2
    assert value(m, "tod_sync_runs_total", **avatar, outcome="failed") == 1
    assert value(m, "tod_sync_runs_total", **avatar, outcome="skipped") == 1
    assert value(m, "tod_sync_runs_total", **avatar, outcome="partial") == 0
    assert value(m, "tod_sync_api_calls_total", **avatar) == 16
    assert value(m, "tod_sync_throttled_total", **avatar) == 3
    assert value(m, "tod_sync_failed_calls_total", **avatar) == 7
    assert value(m, "tod_sync_api_calls_total", **ci) == 1
    assert value(m, "tod_sync_api_calls_total", **hw, kind="voice_training") == 0

    last = NOW - timedelta(hours=2) + timedelta(seconds=40)
    assert value(m, "tod_sync_last_success_timestamp_seconds", **avatar) == last.timestamp()
    assert value(m, "tod_sync_last_success_age_seconds", **avatar) == 7160
    assert value(m, "tod_sync_last_success_age_seconds", **ci) == 20 * 60 - 3
    assert value(m, "tod_sync_last_success_timestamp_seconds", **hw, kind="voice_training") == 0
    assert value(m, "tod_sync_last_success_age_seconds", **hw, kind="voice_training") == math.inf

    full = {"kind": "avatar_training", "mode": "full"}
    assert value(m, "tod_sync_duration_seconds_count", **full) == 1  # the skipped run left out
    assert value(m, "tod_sync_duration_seconds_sum", **full) == pytest.approx(40, abs=0.01)
    assert value(m, "tod_sync_duration_seconds_bucket", **full, le="30.0") == 0
    assert value(m, "tod_sync_duration_seconds_bucket", **full, le="60.0") == 1
    incremental = {"kind": "avatar_training", "mode": "incremental"}
    assert value(m, "tod_sync_duration_seconds_bucket", **incremental, le="2.5") == 0
    assert value(m, "tod_sync_duration_seconds_bucket", **incremental, le="5.0") == 1
    assert value(m, "tod_sync_duration_seconds_count", kind="translation", mode="incremental") == 1
    assert value(m, "tod_sync_duration_seconds_count", kind="avatar_training", mode="refresh") == 1

    assert value(m, "tod_jobs", **avatar, status="running") == 2
    assert value(m, "tod_jobs", **avatar, status="succeeded") == 1  # the gone one left out
    assert value(m, "tod_jobs", **avatar, status="failed") == 0
    assert value(m, "tod_jobs", **ci, status="failed") == 1

    assert value(m, "tod_account_lease_held", **hw) == 1
    assert value(m, "tod_account_lease_held", account="tencent-ci") == 0
    assert value(m, "tod_account_enabled", **hw) == 1
    assert value(m, "tod_account_enabled", account="tencent-ci") == 0
    assert value(m, "tod_dispatcher_heartbeat_age_seconds") == 10
    assert value(m, "tod_dispatcher_heartbeat_max_age_seconds") == 90


@pytest.mark.db_sensitive
def test_the_counters_count_each_run_once_across_the_hour(client):
    account = make_account("huawei-main")
    avatar = {"account": "huawei-main", "kind": "avatar_training"}
    early = NOW.replace(minute=0) - timedelta(minutes=50)  # 09:10
    make_run(account, outcome="succeeded", api_calls=5, started_at=early, finished_at=early + timedelta(minutes=10))
    slow = make_run(account, outcome="running", started_at=NOW.replace(minute=0) - timedelta(minutes=10))
    waiting = make_run(account, outcome="queued", started_at=NOW.replace(minute=0) - timedelta(minutes=5))
    with time_machine.travel(NOW, tick=False):
        m = scrape(client)
        assert value(m, "tod_sync_api_calls_total", **avatar) == 5
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        # The run that straddled the hour finishes; the queued one starts (and gets a new start).
        SyncRun.objects.filter(pk=slow.pk).update(outcome="succeeded", api_calls=7, finished_at=timezone.now())
        SyncRun.objects.filter(pk=waiting.pk).update(outcome="running", started_at=timezone.now())
        SyncRun.objects.filter(pk=waiting.pk).update(outcome="succeeded", api_calls=1, finished_at=timezone.now())
        m = scrape(client)
        assert value(m, "tod_sync_api_calls_total", **avatar) == 13
        assert value(m, "tod_sync_runs_total", **avatar, outcome="succeeded") == 3
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):  # the older runs summed afresh
        m = scrape(client)
        assert value(m, "tod_sync_api_calls_total", **avatar) == 13
        assert value(m, "tod_sync_runs_total", **avatar, outcome="succeeded") == 3


@pytest.mark.db_sensitive
def test_the_counters_start_again_each_day_and_the_last_success_is_remembered(client):
    account = make_account("huawei-main")
    avatar = {"account": "huawei-main", "kind": "avatar_training"}
    at = NOW - timedelta(hours=1)
    make_run(account, outcome="succeeded", api_calls=5, started_at=at, finished_at=at + timedelta(seconds=9))
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        m = scrape(client)
        response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0", **BEARER)
    assert value(m, "tod_sync_api_calls_total", **avatar) == 0
    assert value(m, "tod_sync_runs_total", **avatar, outcome="succeeded") == 0
    assert value(m, "tod_sync_last_success_age_seconds", **avatar) == 86400 + 3600 - 9
    calls = next(f for f in openmetrics_families(response.content.decode()) if f.name == "tod_sync_api_calls")
    created = [s.value for s in calls.samples if s.name.endswith("_created") and s.labels == avatar]
    assert created == [datetime(2026, 3, 3, tzinfo=UTC).timestamp()]


def test_a_warm_scrape_costs_the_same_queries_for_one_account_or_many(client, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        make_account("first")
        scrape(client)  # keeps the sums of the hour and the last successes before today
        with django_assert_num_queries(5) as one:
            scrape(client)
        queries = len(one)
        for name in ("second", "third", "fourth"):
            make_run(make_account(name), outcome="succeeded", finished_at=timezone.now())
        scrape(client)
        with django_assert_num_queries(queries):
            scrape(client)


def test_the_metrics_hold_no_secret(client):
    account = make_account("huawei-main", access_key_id="AKIDPUBLIC0001")
    account.set_secret_key("sk-very-secret-4b1d")
    account.set_token("x-auth-token-secret-77")
    account.save()
    make_run(account, outcome="failed", error_message="refused sk-very-secret-4b1d", finished_at=timezone.now())
    body = client.get("/metrics", **BEARER).content.decode()
    for secret in ("sk-very-secret", "x-auth-token-secret", TOKEN, "AKIDPUBLIC", "refused"):
        assert secret not in body


def test_openmetrics_is_served_when_asked_for(client):
    make_account("huawei-main")
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0", **BEARER)
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")
