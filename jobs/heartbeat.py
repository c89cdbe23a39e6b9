"""Heartbeats of the background parts (a model, registered through jobs.models)."""

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last time a background part did its round (``dispatcher``: Celery beat's dispatch of
    due syncs); /healthz reports its age."""

    name = models.CharField(max_length=32, unique=True)
    at = models.DateTimeField()

    class Meta:
        app_label = "jobs"

    def __str__(self):
        return f"{self.name} @ {self.at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def touch(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"at": timezone.now()})
