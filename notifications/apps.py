from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from jobs.signals import run_failed
        from notifications.run_failures import on_run_failed

        # The engine announces a final failure; the owner's e-mail is this app's business.
        run_failed.connect(on_run_failed, dispatch_uid="notifications.run_failed_mail")
