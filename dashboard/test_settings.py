"""Settings for pytest: the real settings, with a throw-away DATA_DIR and an in-memory broker.

Subprocesses a test starts (fakecloud, a Celery worker, a live server) get their own
environment from that test.
"""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="tod-test-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# Tests against fakecloud on loopback need no vendor budget; tests/test_quota.py and the
# rate-limited tests set their own.
os.environ.setdefault("SYNC_DEFAULT_MAX_RPS", "1000")

from dashboard.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
