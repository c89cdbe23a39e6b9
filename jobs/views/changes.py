"""The change feed (/changes/): state changes across every job, newest first, in keyset pages of
50, filtered by account, cloud, kind and new status (in the URL, like the job list's); changes
after the user's last-seen mark are highlighted. And "Mark all as seen"."""

from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from jobs import changes, selectors
from jobs.forms import JobFilterForm
from jobs.lastseen_models import LastSeen
from jobs.views.common import _bad_request
from jobs.views.triage import TriageFilterForm

FILTERS = ("account", "cloud", "kind", "status")


class ChangeFilterForm(TriageFilterForm):
    """The job list's account, cloud, kind and status fields (so the same URLs), and a cursor."""

    filters = FILTERS
    status = JobFilterForm.base_fields["status"]
    after = forms.CharField(label=_("Page cursor"), required=False, max_length=200)

    def clean_after(self):
        raw = self.cleaned_data["after"]
        if not raw:
            return None
        try:
            return changes.decode_cursor(raw)
        except selectors.BadCursor:
            raise forms.ValidationError(_("Not a page cursor."), code="invalid") from None


def _url(params, **extra) -> str:
    query = list(params) + [(k, v) for k, v in extra.items() if v]
    return reverse("changes") + ("?" + urlencode(query) if query else "")


@require_GET
def change_feed(request: HttpRequest) -> HttpResponse:
    form = ChangeFilterForm(request.GET, accounts=selectors.accounts())
    if not form.is_valid():
        return _bad_request(request, form, reverse("changes"))
    mark = LastSeen.visit(request.user)
    filters = form.cleaned_data
    page = changes.feed_page(filters, filters["after"])
    params = [(k, v) for k in FILTERS for v in request.GET.getlist(k) if v]
    for event in page.rows:
        event.is_new = event.occurred_at > mark
    context = {
        "form": form,
        "picked": form.picked(),
        "page": page,
        "since": changes.Since(mark),
        "older_url": _url(params, after=page.next_cursor) if page.next_cursor else None,
        "newest_url": _url(params) if filters["after"] else None,
    }
    return render(request, "jobs/changes.html", context)


@require_POST
def mark_seen(request: HttpRequest) -> HttpResponse:
    """Move the user's mark to now; back to the page the button was on."""
    LastSeen.mark_all_seen(request.user)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
        back = reverse("changes")
    return HttpResponseRedirect(back)
