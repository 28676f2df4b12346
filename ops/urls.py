from django.contrib import admin
from django.urls import path

from ops import views
from tenants.viewer_zone import choose_zone

app_name = "ops"

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("dashboard/live/", admin.site.admin_view(views.dashboard_live), name="dashboard_live"),
    # The zone the viewer's pages speak (the selector on the dashboard); POST only.
    path("timezone/", admin.site.admin_view(choose_zone), name="timezone"),
]
