from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Owners and settings"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tenants.models import OwnerSetting
        from tenants.owner_settings import announce_stored_change

        # Every write path (service, admin inline, shell) tells the listeners, so none can forget to.
        post_save.connect(announce_stored_change, sender=OwnerSetting, dispatch_uid="tenants.setting_saved")
        post_delete.connect(
            announce_stored_change, sender=OwnerSetting, dispatch_uid="tenants.setting_deleted"
        )
