"""Settings for the Training Ops Dashboard.

Everything comes from the environment through the small typed helpers below, which fail
loudly on a bad value. With no environment at all the project runs on embedded defaults:
SQLite and a filesystem Celery broker, both under DATA_DIR.
"""

import os
from pathlib import Path

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
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
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

# Celery: a filesystem broker under DATA_DIR unless CELERY_BROKER_URL names Redis or RabbitMQ.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Fanout (worker remote control) files; kombu's default is ./control in the CWD.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Sync behaviour.
SYNC_LEASE_SECONDS = envint("SYNC_LEASE_SECONDS", 900)
SYNC_DEFAULT_INTERVAL = envint("SYNC_DEFAULT_INTERVAL", 300)
SYNC_ACTIVE_INTERVAL = envint("SYNC_ACTIVE_INTERVAL", 60)
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
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
