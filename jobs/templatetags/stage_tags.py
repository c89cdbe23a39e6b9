"""The job page's Gantt strip as a template tag (jobs.stage_charts draws it)."""

from django import template

from jobs import stage_charts

register = template.Library()
register.simple_tag(stage_charts.gantt_strip)
