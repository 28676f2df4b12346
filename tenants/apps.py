from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Owners and settings"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tenants import owner_settings
        from tenants.models import OwnerSetting

        def setting_changed(sender, instance: OwnerSetting, **kwargs) -> None:
            owner_settings.notify_changed(instance.owner_id, instance.key)

        # Every write path (service, admin inline, shell) tells the listeners, so none can forget to.
        post_save.connect(setting_changed, sender=OwnerSetting, dispatch_uid="tenants.setting_saved")
        post_delete.connect(setting_changed, sender=OwnerSetting, dispatch_uid="tenants.setting_deleted")
