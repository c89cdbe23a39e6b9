"""One job: fields, linked job, timeline, assessment; refresh it on demand."""

import re
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from jobs import eta, selectors, stages, tasks, timelines
from jobs.forms import ProgressForm, StepsForm
from jobs.models import ACTIVE_STATUSES, WAITING_STATUSES, Job, SyncRun
from jobs.views.common import STEPS_PAGE, SYNC_PERMISSION, _bad_request, _fragment, _require_operator

# Vendor advice is Chinese, English or both; text with CJK characters is taken as Chinese.
CJK_RE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# An htmx poll answered with 286 stops polling (a refresh whose run is gone).
STOP_POLLING = 286


def _text_lang(text: str) -> str:
    return "zh" if CJK_RE.search(text or "") else "en"


def _advice(text: str, zh: bool) -> dict:
    """Vendor text with the language it is in when that is not the page's ("" when it is)."""
    lang = _text_lang(text)
    return {"text": text, "lang": "" if not text or (lang == "zh") == zh else lang}


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job, linked, events, assessment = timelines.job_detail(pk)
    except Job.DoesNotExist:
        raise Http404 from None
    # The steps come in pages (keyset on the event id); totals always cover every step.
    form = StepsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form, reverse("job_detail", args=[job.pk]), target="#more-steps")
    after = form.cleaned_data["after_event"]
    context = _detail_context(request, job, linked, events, assessment, after)
    if _fragment(request) and after:
        return render(request, "jobs/detail.html#steps", context)
    return render(request, "jobs/detail.html", context)


def _detail_context(request, job, linked, events, assessment, after=None) -> dict:
    """What the job page shows: the whole page, or its head and body after a refresh."""
    now = timezone.now()
    metrics = list(assessment.metrics.all()) if assessment else []
    zh = (translation.get_language() or "").startswith("zh")
    for m in metrics:
        m.advice = _advice((m.suggestion or m.suggestion_en) if zh else (m.suggestion_en or m.suggestion), zh)
    timeline = timelines.timeline(job, events, now)
    start = 0
    if after:
        start = next((i + 1 for i, s in enumerate(timeline.steps) if s.event.pk == after), len(timeline.steps))
    steps = timeline.steps[start : start + STEPS_PAGE]
    left = len(timeline.steps) - start - len(steps)
    more_steps_url = None
    if left > 0:
        more_steps_url = reverse("job_detail", args=[job.pk]) + "?" + urlencode({"after_event": steps[-1].event.pk})
    return {
        "steps": steps,
        "steps_left": left,
        "more_steps_url": more_steps_url,
        "job": job,
        "linked": linked,
        "timeline": timeline,
        "gantt": stages.gantt(job, timeline, now),  # the stages strip (templates/jobs/_gantt.html)
        "assessment": assessment,
        "overall": _advice(assessment.suggestion, zh) if assessment else None,
        "metrics": metrics,
        "job_duration": job.finished_at - job.started_at if job.started_at and job.finished_at else None,
        "stuck": selectors.is_stuck(job, now),
        "eta": _expected_finish(job, now),
        "stuck_limit": selectors.stuck_limit(job.kind, job.state),
        "can_operate": request.user.has_perm(SYNC_PERMISSION),
    }


def _expected_finish(job: Job, now) -> dict | None:
    """When an unfinished job should settle, from past jobs of its kind (jobs.eta): the middle
    estimate and the p25-p75 range as times, with the date only when one is not today."""
    model = eta.stored_model() if job.status in (*ACTIVE_STATUSES, *WAITING_STATUSES) else None
    found = model and eta.job_remaining(job.kind, job.state, (now - job.state_changed_at).total_seconds(), model)
    if not found:  # settled, no model built yet (the hourly task builds it, never a page), no history
        return None
    low, mid, high = (now + timedelta(seconds=s) for s in found)
    today = timezone.localdate(now)
    same_day = all(timezone.localdate(t) == today for t in (low, mid, high))
    return {"low": low, "mid": mid, "high": high, "format": "H:i" if same_day else "Y-m-d H:i"}


def _refresh_context(job: Job, run: SyncRun | None) -> dict:
    """The job page's own progress line for one refresh run (None: the run is gone)."""
    waiting = (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING)
    done = run is None or run.outcome not in waiting
    poll_url = None
    if run is not None:
        poll_url = reverse("job_refresh", args=[job.pk]) + "?" + urlencode({"run": run.pk, "v": run.outcome})
    return {"job": job, "run": run, "done": done, "poll_url": poll_url}


@require_http_methods(["GET", "POST"])
def job_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    """POST starts a refresh of this job; GET ?run=&v= is its progress poll (204: no change).

    When the run ends, the answer also swaps the job's head and fields in place (out of band),
    read again after the refresh."""
    _require_operator(request)
    if request.method == "POST":
        job = get_object_or_404(Job.objects.select_related("account"), pk=pk)
        run = tasks.start_job_refresh(job)
        if _fragment(request):
            return render(request, "jobs/detail.html#refresh", _refresh_context(job, run))
        messages.success(request, _("Refresh queued: the job's details will be fetched again shortly."))
        return redirect("job_detail", pk=job.pk)
    form = ProgressForm(request.GET)
    if not form.is_valid():  # the poll stops: the answer replaces the element that polls
        return _bad_request(request, form, reverse("job_detail", args=[pk]), swap="outerHTML", keep=False)
    runs = selectors.sync_runs(form.cleaned_data["run"][:1])
    run = runs[0] if runs else None
    if run is not None and run.outcome == form.cleaned_data["v"]:
        return HttpResponse(status=204)
    try:
        job, linked, events, assessment = timelines.job_detail(pk)
    except Job.DoesNotExist:
        raise Http404 from None
    context = _refresh_context(job, run)
    if not context["done"]:
        return render(request, "jobs/detail.html#refresh", context)
    context.update(_detail_context(request, job, linked, events, assessment), oob=True)
    response = render(request, "jobs/detail.html#refreshed", context)
    if run is None:
        response.status_code = STOP_POLLING
    return response
