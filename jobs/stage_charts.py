"""Server-side SVG for the Stages page and the job page's Gantt strip (jobs.charts draws the
others). No text inside the small figures (a phone shrinks them): numbers are in the table
beside them and in each figure's label; every value that reaches markup is escaped.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.utils.formats import number_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from jobs.charts import STATUS_COLOURS
from jobs.models import Status
from jobs.stage_reads import OUTCOMES, Report


def _n(value: float) -> str:
    return f"{value:.1f}"


def _label(status: str) -> str:
    try:
        return str(Status(status).label)
    except ValueError:
        return status


def _short(value: timedelta | None) -> str:
    """A compact duration for figure labels (the table uses the duration filter)."""
    if value is None:
        return "—"
    s = int(value.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    if s >= 3600:
        return f"{s / 3600:.1f}h"
    if s >= 60:
        return f"{s // 60}m"
    return f"{s}s"


def dwell_scale(stats) -> tuple[float, float]:
    """One log scale (seconds) for every row's bar: from under the shortest p50 to over the
    longest p95."""
    lows = [s.p50.total_seconds() for s in stats if s.p50 is not None]
    highs = [s.p95.total_seconds() for s in stats if s.p95 is not None]
    if not lows:
        return 1.0, 10.0
    lo, hi = max(min(lows) / 2, 1.0), max(max(highs) * 1.2, 10.0)
    return math.log10(lo), math.log10(max(hi, lo * 10))


def dwell_bar(stat, scale) -> SafeString:
    """A row's p50 (dot) and p50-p95 range (bar) on the table's shared log scale."""
    if stat.p50 is None:
        return mark_safe("")
    lo, hi = scale
    width = 120

    def x(d: timedelta) -> float:
        v = math.log10(max(d.total_seconds(), 1.0))
        return 4 + (min(max(v, lo), hi) - lo) / (hi - lo) * (width - 8)

    x50, x95 = x(stat.p50), x(stat.p95)
    label = _("p50 %(p50)s, p95 %(p95)s") % {"p50": _short(stat.p50), "p95": _short(stat.p95)}
    return format_html(
        '<svg class="dwell" width="{w}" height="14" viewBox="0 0 {w} 14" role="img" aria-label="{}">'
        '<line x1="4" x2="{e}" y1="7" y2="7" class="track"/>'
        '<rect x="{}" y="3" width="{}" height="8" rx="2" class="p95"/>'
        '<circle cx="{}" cy="7" r="4" class="p50"/></svg>',
        label,
        _n(x50),
        _n(max(x95 - x50, 2)),
        _n(x50),
        w=width,
        e=width - 4,
    )


def level_spark(levels) -> SafeString:
    """Jobs at the end of each day, one bar a day (the row's numbers are beside it)."""
    values, peak = levels.values, max(levels.peak, 1)
    step = 4
    bars = "".join(
        f'<rect x="{i * step}" y="{_n(20 - v / peak * 18)}" width="3" height="{_n(max(v / peak * 18, 0.5 if v else 0))}"/>'
        for i, v in enumerate(values)
    )
    label = _("Jobs at the end of each day: %(values)s") % {"values": ", ".join(str(v) for v in values)}
    return format_html(
        '<svg class="spark level" width="120" height="20" viewBox="0 0 {w} 20" preserveAspectRatio="none" '
        'role="img" aria-label="{}" fill="currentColor">{}</svg>',
        label,
        mark_safe(bars),
        w=len(values) * step,
    )


def finished_chart(rep: Report) -> SafeString:
    """Jobs finished per day, stacked by outcome; axis text sized by CSS per screen."""
    per_day = rep.finished_per_day()
    left, right, top, bottom, width, height = 64, 8, 12, 30, 600, 210
    plot_w, plot_h = width - left - right, height - top - bottom
    biggest = max([sum(c.values()) for _, c in per_day] + [1])
    slot = plot_w / max(len(per_day), 1)
    bar_w = max(slot * 0.8, 1)
    parts = [
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>',
        f'<line x1="{left}" x2="{width - right}" y1="{top}" y2="{top}" class="grid"/>',
        f'<text x="{left - 6}" y="{top + 5}" class="ax" text-anchor="end">{escape(number_format(biggest))}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="ax" text-anchor="end">0</text>',
    ]
    statuses = OUTCOMES + sorted({s for _, c in per_day for s in c if s not in OUTCOMES})
    every = max(1, math.ceil(len(per_day) / 6))
    for i, (day, counts) in enumerate(per_day):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for status in statuses:
            n = counts.get(status, 0)
            if not n:
                continue
            h = n / biggest * plot_h
            y -= h
            title = f"{day:%Y-%m-%d} · {_label(status)}: {n}"
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar_w)}" height="{_n(h)}" '
                f'fill="{STATUS_COLOURS.get(status, "#999")}"><title>{escape(title)}</title></rect>'
            )
        last = i == len(per_day) - 1
        if (i % every == 0 and len(per_day) - 1 - i >= every // 2) or last:
            anchor = "end" if last and len(per_day) > 1 else "middle" if len(per_day) > 1 else "start"
            tx = x + bar_w if anchor == "end" else x + bar_w / 2 if anchor == "middle" else x
            parts.append(f'<text x="{_n(tx)}" y="{height - 8}" class="ax" text-anchor="{anchor}">{day:%m-%d}</text>')
    total = sum(sum(c.values()) for _, c in per_day)
    summary = _("%(total)s jobs finished in %(days)s days (UTC days)") % {
        "total": number_format(total),
        "days": len(per_day),
    }
    return format_html(
        '<svg class="stage-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="finished-title finished-desc" '
        'preserveAspectRatio="xMinYMin meet"><title id="finished-title">{}</title><desc id="finished-desc">{}</desc>'
        "{}</svg>",
        width,
        height,
        _("Jobs finished per day, by outcome"),
        summary,
        mark_safe("".join(parts)),
    )


def finished_rows(rep: Report) -> SafeString:
    """The chart's numbers as table rows, newest day first (one f-string a row: the template's
    loop cost 10 ms of a 90-day page)."""
    out = []
    for day, counts in reversed(rep.finished_per_day()):
        cells = "".join(f"<td>{counts.get(status, 0)}</td>" for status in OUTCOMES)
        out.append(f'<tr><th scope="row">{day:%Y-%m-%d}</th>{cells}<td>{sum(counts.values())}</td></tr>')
    return mark_safe("".join(out))


def gantt_strip(g) -> SafeString:
    """The job's stretches as one strip, widths proportional to time; a settled job's last
    state as a cap at the end. The list under it (templates/jobs/_gantt.html) says it in words."""
    parts = []
    for seg in g.segments:
        s = seg.stretch
        css = f"seg {s.end}" + (" stuck" if s.stuck else "")
        title = s.state + (f": {_short(seg.duration)}" if seg.duration is not None else "")
        parts.append(
            f'<rect x="{_n(seg.x)}" y="2" width="{_n(seg.width)}" height="20" class="{css}" '
            f'fill="{STATUS_COLOURS.get(seg.status, "#999")}"><title>{escape(title)}</title></rect>'
        )
    return format_html(
        '<svg class="gantt" viewBox="0 0 {} 24" preserveAspectRatio="none" role="img" aria-label="{}">{}</svg>',
        g.width,
        _("Stages of this job, in time order: %(states)s")
        % {"states": " → ".join(seg.stretch.state for seg in g.segments)},
        mark_safe("".join(parts)),
    )
