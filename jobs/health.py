"""/healthz: the database, the Celery broker and the dispatcher's heartbeat; and who may read
the details (and /metrics): a bearer token or a client address in an allow-list.

The heartbeat is written by ``jobs.tasks.dispatch_due_syncs`` as it starts, in a worker, so a
fresh one proves beat, the broker and a worker all did their part within the limit.

``/healthz`` answers anyone (load balancers): ``ok`` or the names of the failing checks, nothing
else. ``/healthz/details`` adds each check's latency, a reason with secrets removed, and the
heartbeat's age, for a token holder or an allowed address only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from django_celery_beat.models import PeriodicTask
from kombu import Connection

from jobs.middleware import client_ip
from jobs.models import Heartbeat

log = logging.getLogger(__name__)

BROKER_TIMEOUT = 2.0  # seconds: a load balancer's probe gives up after a few
DISPATCH_TASK = "jobs.dispatch_due_syncs"
DISPATCHER = "dispatcher"  # the Heartbeat row dispatch_due_syncs touches
# The limit when the dispatch schedule is not a plain interval (a crontab edited in the admin)
# and HEALTH_DISPATCHER_MAX_AGE is not set.
FALLBACK_MAX_AGE = 900
REASON_CHARS = 200


@dataclass
class Result:
    ok: bool
    latency_ms: float = 0.0
    error: str = ""  # a short reason, secrets removed (details only)
    extra: dict = field(default_factory=dict)


# --- the checks ----------------------------------------------------------------------------


def check_database() -> Result:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Result(ok=True)


def check_broker() -> Result:
    url = settings.CELERY_BROKER_URL
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    if url.startswith("filesystem://"):
        # The embedded broker is a set of folders: a connection cannot fail, writing a message can.
        keys = ("data_folder_in", "data_folder_out", "unacked_folder", "control_folder")
        bad = [k for k in keys if options.get(k) and not _writable_dir(options[k])]
        return Result(ok=not bad, error=f"not a writable folder: {', '.join(bad)}" if bad else "")
    conn = Connection(
        url,
        transport_options=options,
        ssl=getattr(settings, "CELERY_BROKER_USE_SSL", False),
        connect_timeout=BROKER_TIMEOUT,
    )
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
    finally:
        conn.release()
    return Result(ok=True)


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def dispatcher_max_age() -> float | None:
    """Seconds the dispatcher's heartbeat may age, or None when no dispatcher is expected (its
    PeriodicTask is disabled or gone: syncs come from cron and ``syncjobs``)."""
    task = PeriodicTask.objects.filter(task=DISPATCH_TASK, enabled=True).select_related("interval").first()
    if task is None:
        return None
    if settings.HEALTH_DISPATCHER_MAX_AGE:
        return float(settings.HEALTH_DISPATCHER_MAX_AGE)
    if task.interval is None:
        return float(FALLBACK_MAX_AGE)
    # Three periods: one late round (a busy worker, a beat restart) is not an outage.
    return 3 * task.interval.schedule.run_every.total_seconds()


def check_dispatcher() -> Result:
    max_age = dispatcher_max_age()
    if max_age is None:
        return Result(ok=True, extra={"disabled": True})
    at = Heartbeat.objects.filter(name=DISPATCHER).values_list("at", flat=True).first()
    if at is None:
        return Result(ok=False, error="no heartbeat yet", extra={"max_age_seconds": max_age})
    age = max(0.0, (timezone.now() - at).total_seconds())
    extra = {"age_seconds": round(age, 1), "max_age_seconds": max_age}
    return Result(ok=age <= max_age, error="" if age <= max_age else "heartbeat too old", extra=extra)


CHECKS: dict[str, Callable[[], Result]] = {
    "database": check_database,
    "broker": check_broker,
    "dispatcher": check_dispatcher,
}


def run_checks(names: list[str] | None = None) -> dict[str, Result]:
    """Each named check (default: all), timed; an exception fails its check only."""
    results = {}
    for name in names or CHECKS:
        started = time.monotonic()
        try:
            result = CHECKS[name]()
        except Exception as exc:
            result = Result(ok=False, error=scrub(f"{type(exc).__name__}: {exc}"))
            log.warning("health check %s failed: %s", name, result.error)
        result.latency_ms = round((time.monotonic() - started) * 1000, 1)
        results[name] = result
    return results


def scrub(text: str) -> str:
    """A reason without the passwords the settings hold (a driver may quote its URL)."""
    secrets = [urlsplit(settings.CELERY_BROKER_URL).password or ""]
    secrets += [db.get("PASSWORD") or "" for db in settings.DATABASES.values()]
    secrets += list(settings.METRICS_TOKENS)
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text[:REASON_CHARS]


# --- who may read the details and /metrics ---------------------------------------------------


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request holds a configured token or comes from an allowed address; else
    the answer: 404 while neither METRICS_TOKEN nor METRICS_ALLOW is set (monitoring is off),
    401 asking for the token, or 403 for an address outside the allow-list."""
    tokens, allow = settings.METRICS_TOKENS, settings.METRICS_ALLOW
    if not tokens and not allow:
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    if _token_ok(request, tokens) or _address_ok(request, allow):
        return None
    if tokens:
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="monitoring"'
        return response
    return HttpResponse("Forbidden\n", status=403, content_type="text/plain")


def _token_ok(request: HttpRequest, tokens: list[str]) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    given_bytes = given.strip().encode()
    matched = False
    for token in tokens:  # every one compared, each in constant time
        matched |= hmac.compare_digest(given_bytes, token.encode())
    return matched


def _address_ok(request: HttpRequest, allow: list[str]) -> bool:
    """The caller as login throttling sees it: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT set the
    address the outermost trusted proxy was called from (never what the caller claims)."""
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # a dual-stack listener's IPv4 peer
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net, strict=False) for net in allow)


# --- views -----------------------------------------------------------------------------------


def _asked_checks(request: HttpRequest) -> list[str] | HttpResponse:
    names = request.GET.getlist("check")
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        return HttpResponseBadRequest(f"unknown check (known: {', '.join(CHECKS)})\n", content_type="text/plain")
    return list(dict.fromkeys(names))


@login_not_required
@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """``ok`` (200) or ``unhealthy: <failing checks>`` (503); ``?check=database`` runs only the
    checks named (a load balancer that should keep the web up while the workers are down)."""
    names = _asked_checks(request)
    if isinstance(names, HttpResponse):
        return names
    failing = [name for name, result in run_checks(names).items() if not result.ok]
    if failing:
        return HttpResponse(f"unhealthy: {' '.join(failing)}\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@require_GET
@never_cache
def healthz_details(request: HttpRequest) -> HttpResponse:
    """Each check's outcome, latency, reason and extras as JSON (200, or 503 when one fails)."""
    refused = refusal(request)
    if refused is not None:
        return refused
    names = _asked_checks(request)
    if isinstance(names, HttpResponse):
        return names
    results = run_checks(names)
    healthy = all(r.ok for r in results.values())
    body = {
        "status": "ok" if healthy else "unhealthy",
        "checks": {
            name: {"ok": r.ok, "latency_ms": r.latency_ms, **({"error": r.error} if r.error else {}), **r.extra}
            for name, r in results.items()
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)
