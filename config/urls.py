from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Probes and the metrics scrape: /healthz, /readyz, /metrics.
    path("", include("ops.probe_urls")),
    # Before the admin's own patterns, so /admin/ops/… reaches the dashboard.
    path("admin/ops/", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("backups/", include("backups.urls")),
]
