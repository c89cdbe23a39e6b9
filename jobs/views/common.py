"""What every view module shares: the htmx fragment test, the operator check and the 400 page."""

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from jobs import selectors
from jobs.forms import JobFilterForm

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEPS_PAGE = 50
SYNC_PERMISSION = "jobs.trigger_sync"


def _fragment(request: HttpRequest) -> bool:
    """True for an htmx request that wants a partial (not a history restore)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _require_operator(request: HttpRequest) -> None:
    if not request.user.has_perm(SYNC_PERMISSION):
        raise PermissionDenied


def _filter_form(request: HttpRequest) -> JobFilterForm:
    return JobFilterForm(request.GET, accounts=selectors.accounts())


def _bad_request(request, form: Form, back: str, target: str | None = None, swap="innerHTML", keep=True):
    """400 naming each parameter the form refused, with a link to `back` (keeping the good ones
    if `keep`); an htmx request gets that alone, swapped into `target` (default: the asker)."""
    kept = [(k, v) for k, values in request.GET.lists() if keep and k not in form.errors for v in values]
    context = {
        "form": form,
        "problems": [(form[n], form.data.getlist(n)) for n in form.errors if n in form.fields],
        "back_url": back + ("?" + urlencode(kept) if kept else ""),
        "restart_url": reverse("job_list") if isinstance(form, JobFilterForm) else None,
    }
    if not _fragment(request):
        return render(request, "jobs/bad_request.html", context, status=400)
    response = render(request, "jobs/bad_request.html#problem", context, status=400)
    response["HX-Reswap"] = swap
    if target:
        response["HX-Retarget"] = target
    return response


def _bad_filters(request: HttpRequest, form: JobFilterForm) -> HttpResponse:
    """The job list, counts and export: back to the list; a bad poll changes no rows."""
    if "since" in request.GET:
        return _bad_request(request, form, reverse("job_list"), swap="none")
    return _bad_request(request, form, reverse("job_list"), target="#results")
