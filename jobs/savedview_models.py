"""Saved views (issue #14, item 5): the filters of a filterable page under a name, kept for their
owner or shared with everyone (model, registered through jobs.models; written by
jobs.views.savedviews, listed in the navigation by jobs.context_savedviews).

A view is only a page's URL name and a query string: opening it is opening that URL, so the page
itself validates the filters again every time (a view saved before a filter changed meaning
gets the page's usual 400 naming the filter, never a silent wrong list).
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

NAME_MAX = 80
QUERY_MAX = 2000


class SavedView(models.Model):
    class Page(models.TextChoices):
        # The values are URL names (jobs/urls.py): reverse(page) is the page a view opens.
        JOB_LIST = "job_list", _("Jobs")
        TRIAGE = "triage", _("Failures")
        ROLLUPS = "rollups", _("Batches")
        STAGES = "stages", _("Stages")

    name = models.CharField(_("name"), max_length=NAME_MAX)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views", verbose_name=_("owner")
    )
    shared = models.BooleanField(_("shared with everyone"), default=False)
    page = models.CharField(_("page"), max_length=16, choices=Page.choices)
    # The filters only, without "?": no empty values, page numbers or cursors (normalised on save).
    query = models.CharField(_("filters"), max_length=QUERY_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        constraints = [
            # Saving a name again updates that view (the save view's update_or_create); its
            # index also serves "my views" in the navigation and on /views/.
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_owner_name"),
        ]
        indexes = [
            # The shared half of the navigation's "mine or shared" query (jobs.context_savedviews).
            models.Index(fields=["name"], condition=models.Q(shared=True), name="savedview_shared"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(self.page) + ("?" + self.query if self.query else "")
