from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Imported here, as Django's own apps do: these modules need the app registry to be ready.
        from ops import checks  # noqa: F401 - registers the deploy checks
        from ops.run_events import install_after_migrate

        # After every migrate (and a test database's flush): a rebuilt runs table gets its triggers back.
        post_migrate.connect(install_after_migrate, sender=self)
