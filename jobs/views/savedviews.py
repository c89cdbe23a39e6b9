"""Saved views (jobs.savedview_models): save the current filters of a page under a name, list my
views and the shared ones, rename, share or delete my own. A view opens as its page's own URL
(reverse(page) + "?" + query), so it shows exactly what the page showed when it was saved."""

from urllib.parse import parse_qsl, urlencode

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors
from jobs.forms import TRUE_VALUES, FlagInput, JobFilterForm
from jobs.savedview_models import NAME_MAX, QUERY_MAX, SavedView
from jobs.views.rollups import FILTERS as ROLLUP_FILTERS
from jobs.views.rollups import RollupFilterForm
from jobs.views.stages import StagesFilterForm
from jobs.views.triage import FILTERS as TRIAGE_FILTERS
from jobs.views.triage import TriageFilterForm

# What each page's filters are, and the form that reads them (the page's own). Everything else
# in a query string is dropped on save: page numbers, cursors, polls, the CSV table.
FILTER_FORMS = {
    SavedView.Page.JOB_LIST: JobFilterForm,
    SavedView.Page.TRIAGE: TriageFilterForm,
    SavedView.Page.ROLLUPS: RollupFilterForm,
    SavedView.Page.STAGES: StagesFilterForm,
}
FILTERS = {
    SavedView.Page.JOB_LIST: tuple(f for f in JobFilterForm.base_fields if f not in ("after", "since", "n")),
    SavedView.Page.TRIAGE: TRIAGE_FILTERS,
    SavedView.Page.ROLLUPS: (*ROLLUP_FILTERS, "dimension", "q"),
    SavedView.Page.STAGES: (*TRIAGE_FILTERS, "window"),
}
MAX_FIELDS = 200  # a query string with more fields than this is not a page's filters


class BadView(ValueError):
    """A save or edit the server refuses, with a message for the person who sent it."""


def normalised_query(page: str, raw: str) -> str:
    """The filters of `raw` (a query string, with or without "?") that `page` reads, in their
    order, each once, without empty values; BadView when it does not parse or the page's own
    form refuses a filter."""
    raw = (raw or "").strip().removeprefix("?")
    try:
        pairs = parse_qsl(
            raw, keep_blank_values=True, strict_parsing=bool(raw), errors="strict", max_num_fields=MAX_FIELDS
        )
    except ValueError as e:  # a field without "=", bad UTF-8 in a %-escape, too many fields
        raise BadView(_("The filters are not a query string.")) from e
    allowed = FILTERS[page]
    kept = list(dict.fromkeys((k, v) for k, v in pairs if k in allowed and v.strip()))
    query = urlencode(kept)
    if len(query) > QUERY_MAX:
        raise BadView(_("The filters are too long to save (at most %(n)d characters).") % {"n": QUERY_MAX})
    form = FILTER_FORMS[page](QueryDict(query), accounts=selectors.accounts())
    if not form.is_valid():
        problems = [
            f"{form[name].label if name in form.fields else name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        ]
        raise BadView(_("Some filters could not be understood: %(problems)s") % {"problems": "; ".join(problems)})
    return query


def _name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise BadView(_("Give the view a name."))
    if len(name) > NAME_MAX:
        raise BadView(_("A name has at most %(n)d characters.") % {"n": NAME_MAX})
    return name


def _flag(request: HttpRequest) -> bool:
    # The last value wins: a form sends a hidden shared=0 before its checkbox's shared=1.
    values = request.POST.getlist("shared")
    return bool(values) and values[-1].strip().lower() in TRUE_VALUES


def _described(views):
    """Each view's filters as people read them ("Status: Failed, Running"), from its page's own
    form: the field's label and the value's choice label (an account's name, a kind's label)."""
    accounts = selectors.accounts()
    forms_by_page = {}
    for view in views:
        form = forms_by_page.get(view.page)
        if form is None and view.page in FILTER_FORMS:
            form = forms_by_page[view.page] = FILTER_FORMS[view.page](None, accounts=accounts)
        shown: dict[str, list[str]] = {}
        for key, value in parse_qsl(view.query, keep_blank_values=True):
            field = form.fields.get(key) if form is not None else None
            if field is None:
                shown.setdefault(key, []).append(value)
                continue
            label = str(field.label or key)
            if isinstance(field, forms.BooleanField) or isinstance(field.widget, FlagInput):  # "Stuck only"
                shown.setdefault(label, [])
                continue
            names = {str(choice): str(text) for choice, text in getattr(field, "choices", ()) or ()}
            shown.setdefault(label, []).append(names.get(value, value))
        view.filters = [f"{label}: {', '.join(values)}" if values else label for label, values in shown.items()]
    return views


def _page(request: HttpRequest, problem: str = "", back_url: str = "", status: int = 200) -> HttpResponse:
    mine = _described(list(SavedView.objects.filter(owner=request.user)))
    others = SavedView.objects.filter(Q(shared=True) & ~Q(owner=request.user)).select_related("owner")
    context = {"mine": mine, "others": _described(list(others)), "problem": problem, "back_url": back_url}
    return render(request, "jobs/savedviews.html", context, status=status)


@require_GET
def saved_views(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
def save_view(request: HttpRequest) -> HttpResponse:
    """Save (or, for a name of mine already taken, update) the filters of a page as a view."""
    page = request.POST.get("page", "")
    if page not in FILTER_FORMS:
        return _page(request, _("Views can be saved of the job list, failures, batches and stages only."), status=400)
    back_url = reverse(page)
    try:
        name = _name(request.POST.get("name", ""))
        query = normalised_query(page, request.POST.get("query", ""))
    except BadView as e:
        return _page(request, str(e), back_url=back_url, status=400)
    view, created = SavedView.objects.update_or_create(
        owner=request.user, name=name, defaults={"page": page, "query": query, "shared": _flag(request)}
    )
    if created:
        messages.success(request, _("Saved the view “%(name)s”.") % {"name": name})
    else:
        messages.success(request, _("Updated the view “%(name)s”.") % {"name": name})
    return redirect(view.get_absolute_url())


@require_POST
def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename my view and/or share it or stop sharing it (only the fields sent change)."""
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)  # someone else's: 404
    if "name" in request.POST:
        try:
            name = _name(request.POST["name"])
        except BadView as e:
            return _page(request, str(e), status=400)
        if SavedView.objects.filter(owner=request.user, name=name).exclude(pk=view.pk).exists():
            return _page(request, _("You already have a view named “%(name)s”.") % {"name": name}, status=400)
        view.name = name
    if "shared" in request.POST:
        view.shared = _flag(request)
    view.save()
    messages.success(request, _("Saved the view “%(name)s”.") % {"name": view.name})
    return redirect("saved_views")


@require_POST
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)  # someone else's: 404
    view.delete()
    messages.success(request, _("Deleted the view “%(name)s”.") % {"name": view.name})
    return redirect("saved_views")
