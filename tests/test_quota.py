"""jobs.providers.quota: one request budget per vendor tenant, held across threads, processes
and (with Redis) hosts; a 429 halves the rate for a while.

The budget is checked on the times at which calls were let through: no window shorter than the
budget's own window holds more calls than the budget allows. Windows are taken 10 % shorter
than the limiter's, since a call is stamped here a moment after the limiter admitted it.
"""

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis

from jobs.providers import quota, tencent
from jobs.providers.http import HttpClient
from tests.fixtures_stack import REDIS_URL, ROOT
from tests.http_stub import Reply, StubServer, script


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path, settings):
    """RATE_LIMIT_URL for each backend, with this process's governors forgotten."""
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # the local Redis is part of the test stack
        url = REDIS_URL
    else:
        url = f"sqlite:///{tmp_path / 'quota.sqlite3'}"
    settings.RATE_LIMIT_URL = url
    quota.reset_cache()
    yield url
    quota.reset_cache()


def tenant() -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def most_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    most, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_the_window_counter_counts():
    assert most_in_any_window([0, 0.1, 0.5, 0.95, 1.2, 1.3], 1.0) == 4
    assert most_in_any_window([0, 1, 2], 0.9) == 1


def test_a_budget_is_a_small_burst_then_the_steady_rate():
    rate = quota.rate_for(10)
    assert (rate.limit, rate.interval) == (10, 1000)
    assert [(r.limit, r.interval) for r in quota.rates_for(10)] == [(3, 250), (10, 1000)]
    assert [(r.limit, r.interval) for r in quota.rates_for(2)] == [(2, 1000)]
    rate = quota.rate_for(2.5)
    assert rate.limit / (rate.interval / 1000) == pytest.approx(2.5, rel=0.01)
    assert quota.default_rps(20) == 10 and quota.default_rps(None) == quota.DEFAULT_RPS


def test_it_holds_a_budget_across_threads(backend):
    gov = quota.governor(tenant(), 10)
    stamps, lock = [], threading.Lock()

    def caller():
        for _ in range(8):
            gov.acquire()
            with lock:
                stamps.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(stamps) == 32
    assert most_in_any_window(stamps, 0.9) <= 10
    assert max(stamps) - started >= (32 - 10) / 10 * 0.9  # it waited rather than refused


def test_it_holds_a_budget_across_processes(backend):
    key = tenant()
    code = (
        "import django, json, time; django.setup()\n"
        "from jobs.providers import quota\n"
        f"gov = quota.governor({key!r}, 10)\n"
        "stamps = []\n"
        "for _ in range(8):\n"
        "    gov.acquire(); stamps.append(time.time())\n"
        "print(json.dumps(stamps))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "dashboard.test_settings",
        "RATE_LIMIT_URL": backend,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    stamps = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        stamps += json.loads(out)

    assert len(stamps) == 24
    assert most_in_any_window(stamps, 0.9) <= 10


def test_one_tenant_is_one_budget_and_two_tenants_are_two(backend):
    shared = tenant()
    first, second, other = quota.governor(shared, 10), quota.governor(shared, 10), quota.governor(tenant(), 10)
    stamps = []

    started = time.monotonic()
    for _ in range(10):
        first.acquire()
        stamps.append(time.monotonic())
        second.acquire()
        stamps.append(time.monotonic())
    shared_took = time.monotonic() - started
    started = time.monotonic()
    for _ in range(10):
        other.acquire()
    other_took = time.monotonic() - started

    assert most_in_any_window(stamps, 0.9) <= 10
    assert shared_took >= 0.9  # 20 calls at 10/s: the second ten waited for the first to age
    assert other_took < shared_took - 0.3  # 10 calls on a budget of their own did not wait for those


def test_a_throttled_tenant_gets_half_the_rate_until_the_penalty_ends(backend):
    now = [1000.0]
    gov = quota.governor(tenant(), 10)
    gov._clock = lambda: now[0]

    gov.throttled()
    assert gov.penalised
    started = time.monotonic()
    stamps = []
    for _ in range(10):
        gov.acquire()
        stamps.append(time.monotonic() - started)

    assert most_in_any_window(stamps, 0.9) <= 5  # two tokens a call: half the rate
    now[0] += quota.THROTTLE_PENALTY_SECONDS + 1
    assert not gov.penalised


def test_a_throttle_seen_by_one_account_slows_every_account_of_the_tenant(backend):
    shared = tenant()
    first, second, other = quota.governor(shared, 10), quota.governor(shared, 4), quota.governor(tenant(), 4)
    assert first is not second  # two budgets, two governors

    first.throttled()

    assert first.penalised and second.penalised
    assert not other.penalised


class HandClock:
    """A governor's clock that moves only when the governor sleeps between attempts."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class OneTokenAt:
    """A limiter with one token, free from ``free_at`` on ``clock``; none after it is taken."""

    def __init__(self, clock, free_at):
        self.clock, self.free_at = clock, free_at

    def try_acquire(self, key, blocking, timeout):
        if self.free_at is not None and self.clock() >= self.free_at:
            self.free_at = None
            return True
        return False


def test_a_penalised_call_waits_at_most_the_maximum_in_all(monkeypatch):
    clock = HandClock()
    monkeypatch.setattr(quota.time, "sleep", clock.sleep)
    monkeypatch.setattr(quota, "MAX_WAIT_SECONDS", 5.0)
    gov = quota.Governor(tenant(), 1, OneTokenAt(clock, free_at=clock.now + 4), clock=clock)
    gov.throttled()
    started = clock.now

    with pytest.raises(quota.TransportError) as caught:
        gov.acquire()  # the first token after 4 s, the second never

    assert caught.value.code == "quota_wait"
    assert gov._limiter.free_at is None  # the first token was taken
    assert clock.now - started <= quota.MAX_WAIT_SECONDS + 0.15  # one deadline, overshot by one pause at most
    quota.reset_cache()


def test_a_call_that_waits_too_long_fails_as_a_transient_error(backend, monkeypatch):
    monkeypatch.setattr(quota, "MAX_WAIT_SECONDS", 0.2)
    gov = quota.governor(tenant(), 1)
    gov.acquire()

    with pytest.raises(quota.TransportError) as caught:
        gov.acquire()
    assert not caught.value.permanent and caught.value.code == "quota_wait"


class Recorder:
    def __init__(self):
        self.calls = []

    def acquire(self):
        self.calls.append("acquire")

    def throttled(self):
        self.calls.append("throttled")


def test_the_http_client_takes_a_token_per_attempt_and_reports_a_429():
    recorder = Recorder()
    with StubServer(script(Reply(429, b"{}", {"Retry-After": "0"}), Reply(503, b"{}"), Reply(200, b"{}"))) as server:
        client = HttpClient(quota=recorder, sleep=lambda s: None)
        client.request("GET", server.url + "/v1/x")

    assert recorder.calls == ["acquire", "throttled", "acquire", "acquire"]


def test_a_ci_slow_down_answered_503_slows_the_tenant_down_and_other_503s_do_not():
    recorder = Recorder()
    slow_down = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    unavailable = b"<Error><Code>ServiceUnavailable</Code></Error>"
    replies = script(Reply(503, slow_down, {"Retry-After": "0"}), Reply(503, unavailable), Reply(200, b"{}"))
    with StubServer(replies) as server:
        client = HttpClient(quota=recorder, sleep=lambda s: None)
        client.request("GET", server.url + "/ai_jobs", parse_error=tencent.parse_error)

    assert recorder.calls == ["acquire", "throttled", "acquire", "acquire"]


def test_the_backend_follows_the_settings(settings, tmp_path):
    settings.RATE_LIMIT_URL = ""
    settings.CELERY_BROKER_URL = "redis://cache:6379/0"
    assert quota.backend_url() == "redis://cache:6379/0"
    settings.CELERY_BROKER_URL = "amqp://guest@rabbit//"
    settings.DATA_DIR = tmp_path
    assert quota.backend_url() == f"sqlite:///{tmp_path / 'quota.sqlite3'}"
    settings.RATE_LIMIT_URL = "redis://limits:6379/2"
    assert quota.backend_url() == "redis://limits:6379/2"


def test_an_unknown_backend_is_refused(settings):
    settings.RATE_LIMIT_URL = "memcached://x"
    quota.reset_cache()
    with pytest.raises(ValueError, match="RATE_LIMIT_URL"):
        quota.governor(tenant(), 5)
    quota.reset_cache()
