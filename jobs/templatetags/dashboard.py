"""Filters and server-side SVG charts for the dashboard templates.

Every value that reaches markup goes through format_html / escape.
"""

import html
import json
import re
from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from jobs.models import JobEvent, Kind, Provider, Status

register = template.Library()


def _n(value):
    return f"{value:.1f}"


STATUS_COLOURS = {
    "queued": "#7c8aa5",
    "reviewing": "#8e5bd0",
    "running": "#2457c5",
    "needs_action": "#c77700",
    "paused": "#a0a4ab",
    "succeeded": "#1b7a3a",
    "failed": "#b3261e",
    "cancelled": "#5b6475",
    "unknown": "#c2c7d0",
}
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


# --- charts -------------------------------------------------------------------------------


@register.simple_tag
def status_chart(rows, statuses):
    """Stacked horizontal bars: one per account and kind, one segment per unified status.

    The figure is described by a title and a data table next to it (the text alternative).
    """
    bar_h, gap, label_w, width = 22, 10, 260, 900
    plot_w = width - label_w - 70
    biggest = max([r["total"] for r in rows] + [1])
    height = max(len(rows), 1) * (bar_h + gap) + gap
    parts = []
    for i, row in enumerate(rows):
        y = gap + i * (bar_h + gap)
        label = f"{row['account'].name} · {row['kind_label']}"
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="chart-label" text-anchor="end">{}</text>',
                label_w - 10,
                y + bar_h * 0.7,
                label,
            )
        )
        x = label_w
        for value, status_text, n in row["counts"]:
            if not n:
                continue
            w = max(plot_w * n / biggest, 2)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                    _n(x),
                    y,
                    _n(w),
                    bar_h,
                    STATUS_COLOURS.get(value, "#999"),
                    status_text,
                    n,
                )
            )
            x += w
        parts.append(
            format_html('<text x="{}" y="{}" class="chart-value">{}</text>', _n(x + 6), y + bar_h * 0.7, row["total"])
        )
    legend = format_html_join(
        "",
        '<span class="legend-item"><span class="swatch swatch-{}"></span>{}</span>',
        ((v, label) for v, label in statuses),
    )
    svg = format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="status-chart-title" '
        'preserveAspectRatio="xMinYMin meet"><title id="status-chart-title">{}</title>{}</svg>'
        '<div class="legend" aria-hidden="true">{}</div>',
        width,
        height,
        _("Jobs by status, per account and kind"),
        mark_safe("".join(parts)),
        legend,
    )
    return svg


NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
# "3.0-5.5", "-25.0--8.0", "[3.0, 5.0]", "3~5", "3 to 5": the first "-" after a number is the separator.
RANGE_RE = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:~|–|—|to|,|-)\s*(-?\d+(?:\.\d+)?)")


def parse_expected(text):
    """'[3.0, 5.0]', '3.0-5.5', '-25--8', '>= 20', '<0.5' -> (low, high); either may be None."""
    text = text or ""
    match = RANGE_RE.search(text)
    if match:
        a, b = float(match.group(1)), float(match.group(2))
        return min(a, b), max(a, b)
    numbers = [float(n) for n in NUMBER_RE.findall(text)]
    if len(numbers) == 1:
        if "<" in text or "≤" in text:
            return None, numbers[0]
        if ">" in text or "≥" in text:
            return numbers[0], None
        return numbers[0], numbers[0]
    return None, None


def parse_actual(text):
    match = NUMBER_RE.search(text or "")
    return float(match.group()) if match else None


@register.simple_tag
def assessment_chart(metrics):
    """One row per metric: the expected range as a band, the actual value as a marker, and
    the verdict in text ("OK" / "Out of range") beside an icon, so colour is never alone."""
    row_h, label_w, plot_w, verdict_w = 34, 200, 420, 150
    width = label_w + plot_w + verdict_w
    height = max(len(metrics), 1) * row_h + 10
    parts = []
    for i, m in enumerate(metrics):
        y = 8 + i * row_h
        mid = y + row_h / 2
        low, high = parse_expected(m.expected)
        actual = parse_actual(m.actual)
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="chart-label" text-anchor="end">{}</text>',
                label_w - 10,
                mid + 4,
                m.get_metric_display(),
            )
        )
        parts.append(
            format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" class="track"/>', label_w, label_w + plot_w, mid, mid)
        )
        values = [v for v in (low, high, actual) if v is not None]
        if values:
            lo, hi = min(values), max(values)
            pad = (hi - lo) * 0.25 or abs(hi) * 0.25 or 1
            lo, hi = lo - pad, hi + pad

            def sx(v, lo=lo, hi=hi):
                return label_w + (v - lo) / (hi - lo) * plot_w

            band_lo = sx(low if low is not None else lo)
            band_hi = sx(high if high is not None else hi)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="12" class="band"><title>{}: {}</title></rect>',
                    _n(band_lo),
                    mid - 6,
                    _n(max(band_hi - band_lo, 2)),
                    _("Expected"),
                    m.expected,
                )
            )
            if actual is not None:
                cls = "marker bad" if m.out_of_range else "marker ok"
                parts.append(
                    format_html(
                        '<circle cx="{}" cy="{}" r="6" class="{}"><title>{}: {}</title></circle>',
                        _n(sx(actual)),
                        mid,
                        cls,
                        _("Actual"),
                        m.actual,
                    )
                )
        verdict = ("⚠ " + _("Out of range")) if m.out_of_range else ("✓ " + _("In range"))
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="verdict {}">{}</text>',
                label_w + plot_w + 12,
                mid + 4,
                "bad" if m.out_of_range else "ok",
                verdict,
            )
        )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="assess-chart-title" '
        'preserveAspectRatio="xMinYMin meet"><title id="assess-chart-title">{}</title>{}</svg>',
        width,
        height,
        _("Expected range and actual value per metric"),
        mark_safe("".join(parts)),
    )


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
        }
        _ROW_WORDS[lang] = words
    return words


_ROW_WORDS: dict = {}


def _e(value) -> str:
    """Escape for text and attribute values (the five characters Django's escape() replaces)."""
    return html.escape(str(value), quote=True)


def _time_cell(value) -> str:
    if value is None:
        return ""
    return f'<time datetime="{value.isoformat()}">{timezone.localtime(value).strftime("%Y-%m-%d %H:%M")}</time>'


@register.simple_tag
def job_rows(jobs, fresh=False):
    """The <tr>s of the job list. Plain f-strings with every vendor value escaped, labels
    built once per language and one reverse() per call: the list renders 50 rows a page and
    every poll, and format_html per cell cost three times the rest of the page."""
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
        extra = f'<span class="small">{_e(job.batch)}</span>' if job.batch else ""
        extra += "".join(f' <span class="tag">{_e(tag)}</span>' for tag in (job.tags or []))
        account = job.account
        out.append(
            f'<tr id="job-{job.pk}"{css}>'
            f'<td class="name"><a href="{detail}{job.pk}/">{_e(job.name or job.remote_id)}</a>'
            f'<div class="muted small mono">{_e(job.remote_id)}</div></td>'
            f'<td>{_e(account.name)}<div class="muted small">'
            f"{words['provider'].get(account.provider) or _e(account.provider)}</div></td>"
            f"<td>{words['kind'].get(job.kind) or _e(job.kind)}</td>"
            f'<td>{badges}<div class="muted small mono">{_e(job.state)}</div></td>'
            f"<td>{_time_cell(job.created_at)}</td><td>{_time_cell(job.updated_at)}</td><td>{extra}</td></tr>"
        )
    return mark_safe("".join(out))


@register.simple_tag
def oob_deletes(ids):
    """Out-of-band deletes of the old copies of changed rows (a poll during a sync names 500)."""
    return mark_safe("".join(f'<tr hx-swap-oob="delete:#job-{int(pk)}"></tr>' for pk in ids))


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
            "sources": dict(JobEvent.Source.choices),
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
