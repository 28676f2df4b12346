from django.contrib import admin
from django.urls import include, path

from ops import probes

urlpatterns = [
    # Probes and the metrics scrape (answered before host checks: see ops/probes.py).
    path(probes.HEALTHZ, probes.healthz, name="healthz"),
    path(probes.READYZ, probes.readyz, name="readyz"),
    path(probes.METRICS, probes.metrics, name="metrics"),
    # Before the admin's own patterns, so /admin/ops/… reaches the dashboard and the cron preview.
    path("admin/ops/", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("backups/", include("backups.urls")),
]
