"""Deploy checks of our own, next to Django's: ``manage.py check --deploy`` runs them."""

from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.staticfiles, deploy=True)
def static_files_collected(app_configs, **kwargs) -> list[CheckMessage]:
    """Production serves hashed static files: without ``collectstatic`` the admin would lose its CSS."""
    if getattr(staticfiles_storage, "collected", True):
        return []
    return [
        CheckWarning(
            "Static files have not been collected into STATIC_ROOT (no staticfiles manifest).",
            hint="Run `manage.py collectstatic --noinput` before starting the web server "
            "(`make serve` and deploy/Dockerfile do).",
            id="ops.W001",
        )
    ]
