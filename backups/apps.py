from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        # Importing schedules imports backups.owner_settings, which registers this app's per-owner keys.
        from backups import owner_page, schedules, services
        from jobs.signals import housekeeping
        from tenants.models import Owner
        from tenants.owner_page import add_owner_page_section
        from tenants.owner_settings import owner_setting_changed

        # Settings, owners and time zones change in many places (admin, commands, shell): the schedules
        # follow every one of them without the callers knowing about backups.
        owner_setting_changed.connect(
            schedules.on_owner_setting_changed, dispatch_uid="backups.schedule_follows_settings"
        )
        post_save.connect(
            schedules.on_owner_saved, sender=Owner, dispatch_uid="backups.schedule_follows_owner"
        )
        # Every dispatcher's housekeeping reaps backups whose process died, and aborts their uploads.
        housekeeping.connect(services.on_housekeeping, dispatch_uid="backups.reap_abandoned_backups")
        # The owner's page says when its backups run and how the last good one went.
        add_owner_page_section(owner_page.TITLE, owner_page.backups_section)
