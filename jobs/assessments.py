"""Voice-quality assessments: a short job's result, or a voice training job's assess_result, with
one row per metric. Defined here and imported by jobs/models.py (where Django collects models)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Assessment(models.Model):
    """A voice-quality assessment: a short job's result, or a voice training job's assess_result."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="assessment")
    suggestion = models.TextField(blank=True)  # overall advice as the vendor gives it
    fingerprint = models.CharField(max_length=40, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"assessment of {self.job_id}"


class AssessmentMetric(models.Model):
    class Metric(models.TextChoices):
        SPEED = "speed", _("Speech rate")
        SOUND = "sound", _("Volume")
        SNR = "snr", _("Signal-to-noise ratio")
        REVERB = "reverb", _("Reverberation")
        DNSMOS_OVRL = "dnsmos_ovrl", _("DNSMOS overall")
        DNSMOS_BAK = "dnsmos_bak", _("DNSMOS background")

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="metrics")
    metric = models.CharField(max_length=16, choices=Metric.choices)
    position = models.PositiveSmallIntegerField(default=0)
    expected = models.CharField(max_length=255, blank=True)
    actual = models.CharField(max_length=255, blank=True)
    # The vendor's `status` (-1..1; non-zero = outside the expected range).
    status = models.SmallIntegerField(null=True, blank=True)
    suggestion = models.TextField(blank=True)  # Chinese
    suggestion_en = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "metric"], name="metric_assessment_metric"),
        ]
        ordering = ["position"]

    @property
    def out_of_range(self):
        return bool(self.status)
