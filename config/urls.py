from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Before the admin's own patterns, so /admin/ops/… reaches the dashboard and the cron preview.
    path("admin/ops/", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("backups/", include("backups.urls")),
]
