"""The Celery app. Configuration comes from Django settings (CELERY_* names).

Worker: `celery -A dashboard worker`; beat: `celery -A dashboard beat` (database scheduler:
the dispatcher's PeriodicTask is edited in the admin). CELERY_QUEUE names the queue, so two
deployments (or test runs) can share one Redis without taking each other's tasks.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
if os.environ.get("CELERY_QUEUE"):
    app.conf.task_default_queue = os.environ["CELERY_QUEUE"]
app.autodiscover_tasks()
