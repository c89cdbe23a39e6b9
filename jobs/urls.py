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
    path("sync/", views.sync_page, name="sync"),
    path("sync/now/", views.sync_now, name="sync_now"),
    path("sync/progress/", views.sync_progress, name="sync_progress"),
    path("track/", views.track_jobs, name="track_jobs"),
    path("preferences/", views.preferences, name="preferences"),
    # Monitoring: no login; details and metrics need a token or an allowed address (jobs.health).
    path("healthz", health.healthz, name="healthz"),
    path("healthz/details", health.healthz_details, name="healthz_details"),
    path("metrics", metrics.metrics, name="metrics"),
]
