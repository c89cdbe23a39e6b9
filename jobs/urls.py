from django.urls import path

from jobs import health, metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/counts/", views.job_counts, name="job_counts"),
    path("jobs/export.csv", views.job_export, name="job_export"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/refresh/", views.job_refresh, name="job_refresh"),
    path("triage/", views.triage, name="triage"),
    path("triage.csv", views.triage, {"as_csv": True}, name="triage_csv"),
    path("batches/", views.rollups, name="rollups"),
    path("batches.csv", views.rollups, {"as_csv": True}, name="rollups_csv"),
    path("stages/", views.stages, name="stages"),
    path("stages.csv", views.stages, {"as_csv": True}, name="stages_csv"),
    path("changes/", views.change_feed, name="changes"),
    path("changes/seen/", views.mark_seen, name="changes_seen"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/ack/", views.alert_ack, name="alert_ack"),
    path("alerts/rules/<int:pk>/mute/", views.rule_mute, name="alert_rule_mute"),
    path("alerts/rules/<int:pk>/toggle/", views.rule_toggle, name="alert_rule_toggle"),
    path("alerts/rules/add/", views.rule_add, name="alert_rule_add"),
    path("sync/", views.sync_page, name="sync"),
    path("sync/now/", views.sync_now, name="sync_now"),
    path("sync/progress/", views.sync_progress, name="sync_progress"),
    path("track/", views.track_jobs, name="track_jobs"),
    path("preferences/", views.preferences, name="preferences"),
    path("views/", views.saved_views, name="saved_views"),
    path("views/save/", views.save_view, name="saved_view_save"),
    path("views/<int:pk>/edit/", views.edit_view, name="saved_view_edit"),
    path("views/<int:pk>/delete/", views.delete_view, name="saved_view_delete"),
    # Monitoring: no login; details and metrics need a token or an allowed address (jobs.health).
    path("healthz", health.healthz, name="healthz"),
    path("healthz/details", health.healthz_details, name="healthz_details"),
    path("metrics", metrics.metrics, name="metrics"),
]
