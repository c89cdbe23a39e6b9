"""Settings for the Training Ops Dashboard.

Everything comes from the environment through the small typed helpers below, which fail
loudly on a bad value. With no environment at all the project runs on embedded defaults:
SQLite and a filesystem Celery broker, both under DATA_DIR.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name, default=""):
    return os.environ.get(name, default)


def envbool(name, default="False"):
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name, default):
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envfloat(name, default):
    value = os.environ.get(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def envlist(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _persistent_secret(path, make):
    """Read a generated secret from DATA_DIR, creating it once (0600) on first use.

    Only for the zero-configuration demo; production sets the variable instead.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()


# Everything written under DATA_DIR (SQLite with its -wal/-shm, broker messages, quota.sqlite3,
# generated keys) holds sessions or secrets: files 0600 and folders 0700, for this process and
# the ones it starts. (An existing DATA_DIR keeps its mode: see the README on upgrading.)
os.umask(0o077)
DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", "False")


def _make_django_secret():
    from django.core.management.utils import get_random_secret_key

    return get_random_secret_key()


def _make_fernet_key():
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = envstr("SECRET_KEY") or _persistent_secret(DATA_DIR / "secret_key", _make_django_secret)
# Fernet key(s) for cloud credentials; the first encrypts, all decrypt (rotation).
CREDENTIALS_KEYS = envlist("CREDENTIALS_KEY") or [_persistent_secret(DATA_DIR / "credentials_key", _make_fernet_key)]

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login; views opt out with @login_not_required (login page only).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.middleware.UserTimezoneMiddleware",
    "jobs.middleware.NoStoreMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jobs.context_savedviews.saved_views",  # the navigation's "Views" menu (lazy: one query)
            ],
        },
    }
]

# Database: SQLite under DATA_DIR unless DATABASE_URL names another (PostgreSQL in production).
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # A connection per thread kept between requests: a new one re-runs the PRAGMAs,
            # re-parses the schema and starts with a cold page cache (about a third of a
            # list page's time at 100,000 jobs; bench/soak).
            "CONN_MAX_AGE": 300,
            "OPTIONS": {
                # DEFERRED transactions lose writes to "database is locked" once a worker and
                # the web process write together; IMMEDIATE takes the write lock up front and
                # then waits politely for busy_timeout.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes), on the dashboard's and the admin's login page alike:
# AXES_FAILURE_LIMIT wrong passwords for one username from one address lock that pair out for
# AXES_COOLOFF_MINUTES (0: until an admin resets it), the right password included; a success
# clears the count. Staff see and delete lockouts in the admin; `manage.py axes_reset` clears all.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT must be at least 1")
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15)) or None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # the admin's history of failures (1,000 kept per username)
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]  # masked in the admin
AXES_VERBOSE = False  # no version banner on every manage.py command
AXES_LOCKOUT_CALLABLE = "jobs.middleware.lockout_response"  # the site's page, not a bare text
AXES_CLIENT_IP_CALLABLE = "jobs.middleware.client_ip"
# Reverse proxies in front of the app that append the caller's address to X-Forwarded-For
# (nginx: proxy_add_x_forwarded_for). 0: clients connect straight to gunicorn (REMOTE_ADDR).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# The admin shows dates as the app does (Y-m-d H:i), in both languages.
FORMAT_MODULE_PATH = ["dashboard.formats"]
USE_TZ = True
TIME_ZONE = envstr("TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve from the finders in development and tests so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "False")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS (see the README's production environment): HSTS, the redirect, and the header by which
# the TLS proxy says a request came over HTTPS (a header name: its value must be "https").
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "False")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "False")
# Load balancers and scrapers call these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/details)?/?$", r"^metrics/?$"]
_proxy_ssl_header = envstr("SECURE_PROXY_SSL_HEADER").strip()
if _proxy_ssl_header:
    _meta_name = _proxy_ssl_header.upper().replace("-", "_")
    _meta_name = _meta_name if _meta_name.startswith("HTTP_") else "HTTP_" + _meta_name
    if not re.fullmatch(r"HTTP_[A-Z0-9_]+", _meta_name):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name, got {_proxy_ssl_header!r}")
    SECURE_PROXY_SSL_HEADER = (_meta_name, "https")

# Content-Security-Policy (django-csp): only this site's own scripts, styles and images; no
# inline script, style attribute or eval anywhere (htmx runs with allowEval off, base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
# Endpoint overrides resolving to link-local or cloud metadata addresses are refused
# (jobs/endpoints.py) unless this is set.
ALLOW_LINK_LOCAL_ENDPOINTS = envbool("ALLOW_LINK_LOCAL_ENDPOINTS", "False")

# Celery: a filesystem broker under DATA_DIR unless CELERY_BROKER_URL names Redis or RabbitMQ.
# Tasks are acknowledged when they end (acks_late), so a task whose worker was killed runs again:
# RabbitMQ redelivers it as soon as the worker's connection drops, Redis once it has been
# unacknowledged for CELERY_VISIBILITY_TIMEOUT seconds, the filesystem broker when a worker
# next polls (dashboard/broker.py). Whatever the broker, a redelivered sync first waits for the
# killed sync's lease to lapse (jobs/tasks.py).
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
# The sync task's hard time limit in seconds (a soft one a minute earlier lets it record why).
SYNC_TASK_TIME_LIMIT = envint("SYNC_TASK_TIME_LIMIT", 1800)
if SYNC_TASK_TIME_LIMIT <= 60:
    raise ImproperlyConfigured("SYNC_TASK_TIME_LIMIT must be more than 60 (seconds)")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "unacked", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "dashboard.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "unacked_folder": str(CELERY_BROKER_DIR / "unacked"),
        # Fanout (worker remote control) files; kombu's default is ./control in the CWD.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://", "sentinel://")):
    # Redis gives an unacknowledged message to another worker after this many seconds: longer
    # than a sync stays unacknowledged (prefetched behind a running sync, then its own run: twice
    # the time limit), or a slow sync is delivered twice (the second skips on the lease: wasted).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 2 * SYNC_TASK_TIME_LIMIT)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat writes these into its database schedule at start (editable in the admin afterwards).
CELERY_BEAT_SCHEDULE = {
    # The ETA model (jobs.eta) from the latest settled and parked jobs: at most 5,000 per kind.
    "Rebuild the ETA model": {"task": "jobs.rebuild_eta_model", "schedule": 3600.0},
    # The alert outbox (jobs.alert_delivery): retries and anything a sync's own send missed.
    "Send due alerts": {"task": "jobs.send_alerts", "schedule": 30.0},
}
# The dashboard's address as people reach it: alert messages link to its pages with it.
ALERT_SITE_URL = envstr("ALERT_SITE_URL", "http://localhost:8000")
CELERY_TASK_ACKS_LATE = True
# A pool process that dies under its task (OOM killer, a crash) loses only that process: the task
# is sent again after its default_retry_delay, at most max_retries times (no endless loop).
CELERY_TASK_RETRY_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Sync behaviour.
# The account lease's time to live: a running sync renews it every third of this (a heartbeat
# thread, jobs/sync/lease.py), so it only bounds how long a killed sync keeps its account.
SYNC_LEASE_SECONDS = envint("SYNC_LEASE_SECONDS", 60)
SYNC_DEFAULT_INTERVAL = envint("SYNC_DEFAULT_INTERVAL", 300)
SYNC_ACTIVE_INTERVAL = envint("SYNC_ACTIVE_INTERVAL", 60)
# How often an open overview refreshes itself while its tab is visible (30-60 s: fresh enough
# for a wall screen, a few cheap queries a minute per tab).
OVERVIEW_REFRESH_SECONDS = envint("OVERVIEW_REFRESH_SECONDS", 45)
# "Changed since your last visit": a visit this long after the previous one starts a new
# sitting, and the mark moves to that previous visit (jobs/lastseen_models.py).
LAST_SEEN_GAP_MINUTES = envint("LAST_SEEN_GAP_MINUTES", 30)
# Seconds between full listings (reconciliation: the only refresh that marks jobs gone); the
# syncs in between read only what can have changed. Per account in the admin.
SYNC_FULL_INTERVAL = envint("SYNC_FULL_INTERVAL", 6 * 3600)
# Seconds between the incremental refreshes that also list the jobs waiting on a person (needs
# action, paused: the vendor does not move them by itself; in between, the sync lists only the
# jobs the vendor moves). 0 = every refresh.
SYNC_WAITING_INTERVAL = envint("SYNC_WAITING_INTERVAL", 1800)
# Where the vendor-quota governor keeps its budgets (jobs/providers/quota.py): redis://… or
# sqlite:///path. Default: the Celery broker when it is Redis, else DATA_DIR/quota.sqlite3.
RATE_LIMIT_URL = envstr("RATE_LIMIT_URL")
# Request budget (requests/s per vendor tenant) of accounts with none of their own; 0 = half
# the vendor's documented rate (MetaStudio 10 in cn-north-4, 5 elsewhere; CI 5).
SYNC_DEFAULT_MAX_RPS = envfloat("SYNC_DEFAULT_MAX_RPS", 0)
# How many detail/op-log fetches one sync run may make; the rest wait for the next run.
SYNC_DETAIL_BUDGET = envint("SYNC_DETAIL_BUDGET", 500)
# Detail / op-log reads in flight at once (each still takes a token from the tenant's budget).
SYNC_DETAIL_CONCURRENCY = envint("SYNC_DETAIL_CONCURRENCY", 4)
# MetaStudio listing pages requested ahead of the one being stored (0 = one request at a time;
# see jobs/providers/huawei/client.py FETCH_AHEAD for why 3).
SYNC_FETCH_AHEAD = envint("SYNC_FETCH_AHEAD", 3)
HTTP_CONNECT_TIMEOUT = envint("HTTP_CONNECT_TIMEOUT", 5)
HTTP_READ_TIMEOUT = envint("HTTP_READ_TIMEOUT", 30)
HTTP_MAX_RETRIES = envint("HTTP_MAX_RETRIES", 3)
HTTP_MAX_BODY_BYTES = envint("HTTP_MAX_BODY_BYTES", 8 * 1024 * 1024)

# How long a job may stay in one state before the dashboard calls it stuck, in hours,
# keyed by "<kind>:<STATE>" or "<kind>:*" (STUCK_LIMITS_JSON overrides, e.g. {"avatar_training:TRAINING": 48}).
STUCK_LIMIT_HOURS = {
    "avatar_training:TRAINING": 72,  # three working days
    "avatar_training:*": 72,
    "voice_training:*": 48,
    "voice_assessment:*": 2,
    "translation:*": 6,
}
if envstr("STUCK_LIMITS_JSON"):
    import json

    STUCK_LIMIT_HOURS.update(json.loads(envstr("STUCK_LIMITS_JSON")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # axes logs two INFO lines per sign-in; its warnings (lockouts) still show.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Monitoring (jobs/health.py, jobs/metrics.py): /healthz answers anyone with "ok" or the failing
# checks' names; /healthz/details and /metrics answer a bearer token from METRICS_TOKEN (comma-
# separated for rotation) or a client address in METRICS_ALLOW (comma-separated addresses or
# CIDRs, judged like login throttling: TRUSTED_PROXY_COUNT), and 404 while neither is set.
METRICS_TOKENS = envlist("METRICS_TOKEN")
if any(len(token) < 16 for token in METRICS_TOKENS):
    raise ImproperlyConfigured("METRICS_TOKEN: each token needs at least 16 characters")
METRICS_ALLOW = envlist("METRICS_ALLOW")
if METRICS_ALLOW:
    import ipaddress

    for _network in METRICS_ALLOW:
        try:
            ipaddress.ip_network(_network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"METRICS_ALLOW must list addresses or CIDRs, got {_network!r}") from None
# Seconds the dispatcher's heartbeat may age before /healthz fails; 0 = three periods of its
# schedule ("Dispatch due syncs" in the admin: 30 s, so 90 s).
HEALTH_DISPATCHER_MAX_AGE = envint("HEALTH_DISPATCHER_MAX_AGE", 0)
