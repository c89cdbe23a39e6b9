"""One job: fields, linked job, timeline, assessment; refresh it on demand."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors, tasks, timelines
from jobs.forms import StepsForm
from jobs.models import Job
from jobs.views.common import STEPS_PAGE, SYNC_PERMISSION, _bad_request, _fragment, _require_operator
from jobs.views.syncing import _progress_context


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job, linked, events, assessment = timelines.job_detail(pk)
    except Job.DoesNotExist:
        raise Http404 from None
    now = timezone.now()
    metrics = list(assessment.metrics.all()) if assessment else []
    zh = (translation.get_language() or "").startswith("zh")
    for m in metrics:
        m.advice = (m.suggestion or m.suggestion_en) if zh else (m.suggestion_en or m.suggestion)
    timeline = timelines.timeline(job, events, now)
    # The steps come in pages (keyset on the event id); totals always cover every step.
    form = StepsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form, reverse("job_detail", args=[job.pk]), target="#more-steps")
    after = form.cleaned_data["after_event"]
    start = 0
    if after:
        start = next((i + 1 for i, s in enumerate(timeline.steps) if s.event.pk == after), len(timeline.steps))
    steps = timeline.steps[start : start + STEPS_PAGE]
    left = len(timeline.steps) - start - len(steps)
    more_steps_url = None
    if left > 0:
        more_steps_url = reverse("job_detail", args=[job.pk]) + "?" + urlencode({"after_event": steps[-1].event.pk})
    steps_context = {"steps": steps, "steps_left": left, "more_steps_url": more_steps_url}
    if _fragment(request) and after:
        return render(request, "jobs/detail.html#steps", steps_context)
    context = {
        **steps_context,
        "job": job,
        "linked": linked,
        "timeline": timeline,
        "assessment": assessment,
        "metrics": metrics,
        "stuck": selectors.is_stuck(job, now),
        "stuck_limit": selectors.stuck_limit(job.kind, job.state),
        "can_operate": request.user.has_perm(SYNC_PERMISSION),
    }
    return render(request, "jobs/detail.html", context)


@require_POST
def job_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    job = get_object_or_404(Job.objects.select_related("account"), pk=pk)
    runs = [tasks.start_job_refresh(job)]
    if _fragment(request):
        return render(request, "jobs/sync.html#progress", _progress_context(runs))
    messages.success(request, _("Refresh queued: the job's details will be fetched again shortly."))
    return redirect("job_detail", pk=job.pk)
