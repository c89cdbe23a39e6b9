"""The dashboard's server-side SVG charts: jobs by status per account and kind (the overview),
and each voice-assessment metric's expected range against its actual value (the job page).
Registered as template tags by jobs/templatetags/dashboard.py. Every value that reaches markup
goes through format_html / escape.
"""

import re

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from jobs.models import Status


def _status_label(value):
    try:
        return Status(value).label
    except ValueError:
        return value


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


# The widest the labels get: 17 px type on a phone (static/css/app.css), where the chart keeps
# 640 px for its viewBox; a CJK character is about one em wide, others about 0.6.
LABEL_PX = 17


def _label_width(labels) -> int:
    """Room for the longest label, so none is cut at the chart's left edge (160-460 units)."""
    ems = max((sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in label) for label in labels), default=0)
    return int(min(max(ems * LABEL_PX + 16, 160), 460))


def status_chart(rows, statuses):
    """Stacked horizontal bars: one per account and kind, one segment per unified status.

    The figure is described by a title and a data table next to it (the text alternative).
    """
    bar_h, gap, plot_w = 22, 10, 570
    labels = [f"{row['account'].name} · {row['kind_label']}" for row in rows]
    label_w = _label_width(labels)
    width = label_w + plot_w + 70
    biggest = max([r["total"] for r in rows] + [1])
    height = max(len(rows), 1) * (bar_h + gap) + gap
    parts = []
    for i, row in enumerate(rows):
        y = gap + i * (bar_h + gap)
        label = labels[i]
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
            parts.append(  # a segment opens the job list of its account, kind and status
                format_html(
                    '<a href="{}&amp;status={}"><title>{}: {}</title><rect x="{}" y="{}" width="{}" height="{}" fill="{}"/></a>',
                    row["list_url"],
                    value,
                    status_text,
                    n,
                    _n(x),
                    y,
                    _n(w),
                    bar_h,
                    STATUS_COLOURS.get(value, "#999"),
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
        '<svg class="chart" viewBox="0 0 {} {}" role="group" aria-labelledby="status-chart-title" '
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


def assessment_chart(metrics):
    """One row per metric: its name and verdict in text (colour is never alone) above a track:
    the expected range as a band, the actual value as a dot. A one-sided limit (">=35.0") sits
    mid-way on a scale from 0 to twice the limit, the margin written out (a scale fitted to the
    two numbers put every value in range on the same spot). Rows are stacked, so the narrow
    figure stays readable on a phone."""
    row_h, x0, x1 = 64, 8, 472
    parts = []
    for i, m in enumerate(metrics):
        y = 8 + i * row_h
        ok = "bad" if m.out_of_range else "ok"
        verdict = ("⚠ " + _("Out of range")) if m.out_of_range else ("✓ " + _("In range"))
        parts.append(
            f'<text x="{x0}" y="{y + 14}" class="chart-label">{escape(m.get_metric_display())}</text>'
            f'<text x="{x1}" y="{y + 14}" class="verdict {ok}" text-anchor="end">{escape(verdict)}</text>'
            f'<line x1="{x0}" x2="{x1}" y1="{y + 32}" y2="{y + 32}" class="track"/>'
            + _assessment_track(m, x0, x1, y + 32, ok)
        )
    return format_html(
        '<svg class="chart assess" viewBox="0 0 {} {}" role="img" aria-labelledby="assess-chart-title" '
        'preserveAspectRatio="xMinYMin meet"><title id="assess-chart-title">{}</title>{}</svg>',
        x1 + x0,
        max(len(metrics), 1) * row_h + 8,
        _("Expected range and actual value per metric"),
        mark_safe("".join(parts)),
    )


def _assessment_track(m, x0, x1, mid, ok) -> str:
    """The band, the limit mark, the dot and the text under the track of one metric."""
    low, high = parse_expected(m.expected)
    actual = parse_actual(m.actual)
    one_sided = (low is None) != (high is None)
    if one_sided:
        limit = low if low is not None else high
        spread = abs(limit) or max(abs(actual or 0), 1)
        lo, hi = limit - spread, limit + spread
    else:
        values = [v for v in (low, high, actual) if v is not None]
        if not values:
            return ""
        lo, hi = min(values), max(values)
        spread = (hi - lo) * 0.25 or abs(hi) * 0.25 or 1
        lo, hi = lo - spread, hi + spread

    def sx(v):  # a value far off the scale sits at its end
        return min(max(x0 + (v - lo) / (hi - lo) * (x1 - x0), x0 + 6), x1 - 6)

    band_lo, band_hi = (sx(low) if low is not None else x0), (sx(high) if high is not None else x1)
    expected = escape(m.expected)
    out = [
        f'<rect x="{_n(band_lo)}" y="{mid - 6}" width="{_n(max(band_hi - band_lo, 2))}" height="12" class="band">'
        f"<title>{escape(_('Expected'))}: {expected}</title></rect>"
    ]
    if one_sided:
        lx = _n(sx(limit))
        out.append(
            f'<line x1="{lx}" x2="{lx}" y1="{mid - 11}" y2="{mid + 11}" class="limit" stroke="currentColor" '
            f'stroke-width="2"><title>{escape(_("Limit"))}: {expected}</title></line>'
        )
    if actual is None:
        return "".join(out)
    out.append(
        f'<circle cx="{_n(sx(actual))}" cy="{mid}" r="6" class="marker {ok}">'
        f"<title>{escape(_('Actual'))}: {escape(m.actual)}</title></circle>"
    )
    if one_sided:  # the margin in words, under the track from its start (no label to collide with)
        text = (
            _("%(value)s: %(margin)s above the limit %(limit)s")
            if actual >= limit
            else _("%(value)s: %(margin)s below the limit %(limit)s")
        )
        margin = f"{abs(actual - limit):.2f}".rstrip("0").rstrip(".")
        text, x, anchor = text % {"value": m.actual, "margin": margin, "limit": m.expected}, x0, "start"
    else:
        text, x, anchor = m.actual, min(max(sx(actual), x0 + 24), x1 - 24), "middle"
    out.append(f'<text x="{_n(x)}" y="{mid + 24}" class="chart-value" text-anchor="{anchor}">{escape(text)}</text>')
    return "".join(out)
