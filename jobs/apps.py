from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Training jobs"

    def ready(self):
        from django.db.models.signals import post_migrate

        from jobs.roles import ensure_groups_after_migrate

        post_migrate.connect(ensure_groups_after_migrate, sender=self)
