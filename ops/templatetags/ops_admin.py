"""The admin's app lists with the operations dashboard in them: one Operations section, listed first."""

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

OPERATIONS = "ops"


@register.filter
def with_dashboard(app_list: list[dict]) -> list[dict]:
    """``app_list`` (the admin's index, app page or sidebar) with the Operations section first and the
    dashboard as its first row; the section is made when the viewer may see none of its models."""
    try:
        dashboard_url = reverse("ops:dashboard")
    except NoReverseMatch:
        return app_list  # another admin site, under a URLconf without the dashboard
    operations = next((app for app in app_list if app["app_label"] == OPERATIONS), None)
    dashboard = {
        "name": "Dashboard",
        "object_name": "Dashboard",
        "admin_url": dashboard_url,
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
    }
    if operations is None:
        operations = {
            "name": "Operations",
            "app_label": OPERATIONS,
            "app_url": dashboard_url,
            "has_module_perms": True,
            "models": [],
        }
    operations = {**operations, "models": [dashboard, *operations["models"]]}
    return [operations, *(app for app in app_list if app["app_label"] != OPERATIONS)]
