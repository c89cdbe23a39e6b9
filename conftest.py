import os
import tempfile

# Tests never touch the demo's data folder: settings read DATA_DIR at import time.
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="tod-test-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
