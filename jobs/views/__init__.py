"""Thin function views over jobs.selectors. An htmx request gets a named partial of the same
template as the full page; a history-restore request gets the full page.

One module per page; urls.py and tests name the views through this package."""

from jobs.views.alerts import alert_ack, alerts, rule_add, rule_mute, rule_toggle  # noqa: F401
from jobs.views.changes import change_feed, mark_seen  # noqa: F401
from jobs.views.detail import job_detail, job_refresh  # noqa: F401
from jobs.views.export import csv_safe, job_export  # noqa: F401
from jobs.views.joblist import job_counts, job_list  # noqa: F401
from jobs.views.overview import home  # noqa: F401
from jobs.views.prefs import preferences  # noqa: F401
from jobs.views.rollups import rollups  # noqa: F401
from jobs.views.savedviews import delete_view, edit_view, save_view, saved_views  # noqa: F401
from jobs.views.stages import stages  # noqa: F401
from jobs.views.syncing import sync_now, sync_page, sync_progress, track_jobs  # noqa: F401
from jobs.views.triage import triage  # noqa: F401
