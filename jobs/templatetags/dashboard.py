"""Filters and server-side SVG charts for the dashboard templates.

Every value that reaches markup goes through format_html / escape.
"""

import html
import json
from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from jobs import charts
from jobs.charts import STATUS_COLOURS
from jobs.models import JobEvent, Kind, Provider, Status

register = template.Library()


STATUS_ICONS = {
    "queued": "⋯",
    "reviewing": "◔",
    "running": "▶",
    "needs_action": "!",
    "paused": "❚❚",
    "succeeded": "✓",
    "failed": "✕",
    "cancelled": "⊘",
    "unknown": "?",
}


def _label(choices, value):
    try:
        return choices(value).label
    except ValueError:
        return value


@register.filter
def status_label(value):
    return _label(Status, value)


@register.filter
def kind_label(value):
    return _label(Kind, value)


@register.filter
def provider_label(value):
    return _label(Provider, value)


@register.simple_tag
def status_badge(value):
    """A badge with an icon and the text: never colour alone."""
    return format_html(
        '<span class="badge st-{}"><span aria-hidden="true">{}</span> {}</span>',
        value,
        STATUS_ICONS.get(value, "?"),
        status_label(value),
    )


@register.filter
def status_colour(value):
    return STATUS_COLOURS.get(value, "#c2c7d0")


_DURATION_FORMATS = {}


def _duration_formats():
    """The four duration formats in the active language (looked up once per language: a long
    timeline formats hundreds of durations)."""
    lang = translation.get_language()
    formats = _DURATION_FORMATS.get(lang)
    if formats is None:
        formats = _DURATION_FORMATS[lang] = (
            _("%(d)dd %(h)dh"),
            _("%(h)dh %(m)02dm"),
            _("%(m)dm %(s)02ds"),
            _("%(s)ds"),
            _("%(s)ss"),
        )
    return formats


@register.filter
def duration(value):
    """A timedelta as '2d 3h', '4h 05m', '12m 30s', '45s' or '2.5s'."""
    if value is None:
        return ""
    if not isinstance(value, timedelta):
        return value
    days_f, hours_f, minutes_f, seconds_f, fraction_f = _duration_formats()
    if timedelta(0) < value < timedelta(seconds=10):
        secs = value.total_seconds()
        return fraction_f % {"s": f"{secs:.1f}" if secs >= 0.1 else "<0.1"}
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = days_f % {"d": days, "h": hours}
    elif hours:
        text = hours_f % {"h": hours, "m": minutes}
    elif minutes:
        text = minutes_f % {"m": minutes, "s": secs}
    else:
        text = seconds_f % {"s": secs}
    return sign + text


@register.filter
def pretty_json(value):
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


# --- charts (jobs/charts.py draws them) -----------------------------------------------------

register.simple_tag(charts.status_chart)
register.simple_tag(charts.assessment_chart)
parse_expected, parse_actual, assessment_chart = charts.parse_expected, charts.parse_actual, charts.assessment_chart


# --- hot paths of the job list, rendered in Python (50 rows per page, every poll) ---------


def _row_words() -> dict:
    """The fixed markup of a row in the active language, built once per language: the status
    badges, kind and cloud labels, the stuck and gone badges."""
    lang = translation.get_language()
    words = _ROW_WORDS.get(lang)
    if words is None:
        words = {
            "badge": {value: str(status_badge(value)) for value in Status.values},
            "kind": {value: _e(label) for value, label in Kind.choices},
            "provider": {value: _e(label) for value, label in Provider.choices},
            "stuck": f' <span class="badge stuck"><span aria-hidden="true">◷</span> {_e(_("Stuck"))}</span>',
            "gone": f' <span class="badge gone">{_e(_("Gone"))}</span>',
            "out_of_range": _("%(out)s of %(n)s out of range"),
            "changed": f'<span class="sr-only"> {_e(_("changed since your last visit"))}</span>',
        }
        _ROW_WORDS[lang] = words
    return words


_ROW_WORDS: dict = {}
REASON_STATUSES = (Status.FAILED, Status.NEEDS_ACTION, Status.CANCELLED)  # rows that show a failure reason


def _e(value) -> str:
    """Escape for text and attribute values (the five characters Django's escape() replaces)."""
    return html.escape(str(value), quote=True)


def _time_cell(value) -> str:
    if value is None:
        return ""
    return f'<time datetime="{value.isoformat()}">{timezone.localtime(value).strftime("%Y-%m-%d %H:%M")}</time>'


@register.simple_tag
def job_rows(jobs, fresh=False, seen=None):
    """The <tr>s of the job list. Plain f-strings with every vendor value escaped, labels
    built once per language and one reverse() per call: the list renders 50 rows a page and
    every poll, and format_html per cell cost three times the rest of the page. With `seen` (the
    user's mark, jobs/lastseen_models.py), a job whose state changed after it is highlighted."""
    words = _row_words()
    detail = reverse("job_detail", args=[0])[:-2]  # ".../jobs/0/" -> ".../jobs/"
    css = ' class="fresh"' if fresh else ""
    out = []
    for job in jobs:
        badges = words["badge"].get(job.status) or str(status_badge(job.status))
        if getattr(job, "is_stuck", False):
            badges += words["stuck"]
        if job.gone:
            badges += words["gone"]
        if flags := getattr(job, "out_of_range", None):  # {"out": metrics out of range, "n": metrics}: joblist
            badges += f' <span class="badge out-of-range">{_e(words["out_of_range"] % flags)}</span>'
        why = " ".join(p for p in (job.error_code, job.error_message) if p) if job.status in REASON_STATUSES else ""
        why = f'<div class="reason small">{_e(why[:139] + "…" if len(why) > 140 else why)}</div>' if why else ""
        extra = f'<span class="small">{_e(job.batch)}</span>' if job.batch else ""
        extra += "".join(f' <span class="tag">{_e(tag)}</span>' for tag in (job.tags or []))
        account = job.account
        changed = seen is not None and job.state_changed_at > seen
        row_css = (' class="fresh changed"' if fresh else ' class="changed"') if changed else css
        out.append(
            f'<tr id="job-{job.pk}"{row_css}>'
            f'<td class="name"><a href="{detail}{job.pk}/">{_e(job.name or job.remote_id)}</a>'
            f"{words['changed'] if changed else ''}"
            f'<div class="muted small mono">{_e(job.remote_id)}</div></td>'
            f'<td>{_e(account.name)}<div class="muted small">'
            f"{words['provider'].get(account.provider) or _e(account.provider)}</div></td>"
            f"<td>{words['kind'].get(job.kind) or _e(job.kind)}</td>"
            f'<td>{badges}<div class="muted small mono">{_e(job.state)}</div>{why}</td>'
            f"<td>{_time_cell(job.created_at)}</td><td>{_time_cell(job.updated_at)}</td><td>{extra}</td></tr>"
        )
    return mark_safe("".join(out))


@register.simple_tag
def checkbox_menu(field):
    """The checkboxes of a multiple-choice filter (rendered without widget templates)."""
    selected = {str(v) for v in (field.value() or [])}
    return format_html_join(
        "",
        '<label class="check"><input type="checkbox" name="{}" value="{}"{}> {}</label>',
        (
            (field.html_name, value, mark_safe(" checked") if str(value) in selected else "", label)
            for value, label in field.field.choices
        ),
    )


@register.simple_tag(takes_context=True)
def timeline_step(context, step):
    """One <li> of the op-log timeline (a job can have thousands; plain escaping, no format_html
    per fragment)."""
    words = context.get("_timeline_words")
    if words is None:
        words = context["_timeline_words"] = {
            "sources": dict(  # with those of jobs.timelines.known_times (kinds with no op-log)
                JobEvent.Source.choices, created=_("Created"), started=_("Started"), finished=_("Finished")
            ),
            "by": _("by %(who)s"),
            "so_far": _("%(d)s so far"),
            "lasted": _("lasted %(d)s"),
            "stuck": _("Stuck (limit %(limit)s)"),
        }
    ev = step.event
    classes = "step" + (" is-stuck" if step.stuck else "") + (" is-current" if step.current else "")
    local = timezone.localtime(ev.occurred_at)
    out = [
        f'<li class="{classes}" id="ev-{int(ev.pk)}"><div class="when"><time datetime="{ev.occurred_at.isoformat()}">'
        f"{local.strftime('%Y-%m-%d %H:%M:%S')}</time>"
    ]
    if step.since_previous is not None:
        out.append(f'<div class="muted small">+{escape(duration(step.since_previous))}</div>')
    out.append(f'</div><div class="what"><strong class="mono">{escape(step.label)}</strong>')
    if ev.from_state and ev.to_state:
        out.append(f' <span class="muted small mono">{escape(ev.from_state)} → {escape(ev.to_state)}</span>')
    out.append(f' <span class="tag">{escape(words["sources"].get(ev.source, ev.source))}</span>')
    if ev.operator:
        out.append(f' <span class="small">{escape(words["by"] % {"who": ev.operator})}</span>')
    if ev.action and ev.to_state and ev.action != ev.to_state:
        out.append(f' <span class="small mono">{escape(ev.action)}</span>')
    if ev.message:
        out.append(f'<div class="reason">{escape(ev.message)}</div>')
    if step.duration is not None:
        d = duration(step.duration)
        text = (words["so_far"] if step.current else words["lasted"]) % {"d": d}
        out.append(f'<div class="small">{escape(text)}')
        if step.stuck:
            label = words["stuck"] % {"limit": duration(step.limit)}
            out.append(f' <span class="badge stuck"><span aria-hidden="true">◷</span> {escape(label)}</span>')
        out.append("</div>")
    out.append("</div></li>")
    return mark_safe("".join(out))
