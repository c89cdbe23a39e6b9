import pytest
from django.utils import translation

from jobs.models import AssessmentMetric
from jobs.templatetags.dashboard import assessment_chart, duration, parse_actual, parse_expected, status_badge


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    "text,expected",
    [
        ("3.0-5.5", (3.0, 5.5)),
        ("-25.0--8.0", (-25.0, -8.0)),
        ("[3.0, 5.0]", (3.0, 5.0)),
        ("3~5", (3.0, 5.0)),
        (">=35.0", (35.0, None)),
        ("<=0.40", (None, 0.4)),
        ("about 4", (4.0, 4.0)),
        ("n/a", (None, None)),
    ],
)
def test_it_reads_expected_ranges(text, expected):
    assert parse_expected(text) == expected


def test_it_reads_the_actual_value():
    assert parse_actual("-31.54 dB") == -31.54 and parse_actual("") is None


def test_it_marks_out_of_range_metrics_with_text_and_icon():
    metrics = [
        AssessmentMetric(metric="speed", expected="3.0-5.5", actual="2.11", status=1),
        AssessmentMetric(metric="snr", expected=">=35", actual="39.9", status=0),
    ]
    svg = str(assessment_chart(metrics))
    assert "⚠ Out of range" in svg and "✓ In range" in svg
    assert svg.count('class="marker bad"') == 1 and svg.count('class="marker ok"') == 1


def test_it_escapes_values_in_charts():
    metrics = [AssessmentMetric(metric="speed", expected="<script>", actual="<b>1</b>", status=0)]
    svg = str(assessment_chart(metrics))
    assert "<script>" not in svg and "&lt;b&gt;1&lt;/b&gt;" in svg


def test_it_writes_durations_compactly():
    from datetime import timedelta

    assert duration(timedelta(days=2, hours=3, minutes=4)) == "2d 3h"
    assert duration(timedelta(hours=4, minutes=5)) == "4h 05m"
    assert duration(timedelta(minutes=12, seconds=3)) == "12m 03s"
    assert duration(timedelta(seconds=45)) == "45s"


def test_it_shows_status_as_text_beside_the_icon():
    assert "Failed" in str(status_badge("failed")) and "st-failed" in str(status_badge("failed"))


def test_it_writes_short_durations_with_a_decimal():
    from datetime import timedelta

    assert duration(timedelta(seconds=2.46)) == "2.5s"
    assert duration(timedelta(milliseconds=40)) == "<0.1s"
    assert duration(timedelta(0)) == "0s"
