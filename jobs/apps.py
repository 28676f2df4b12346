from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Scheduled jobs"

    def ready(self) -> None:
        from jobs.after_migrate import create_schedules_after_migrate
        from jobs.registry import autodiscover

        autodiscover()
        # Once per migrate (sent with this app as sender, after every app's migrations have run).
        post_migrate.connect(
            create_schedules_after_migrate, sender=self, dispatch_uid="jobs.schedules_after_migrate"
        )
