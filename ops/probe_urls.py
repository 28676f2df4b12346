"""The probes and the metrics scrape, at the site's root (answered before host checks: see ops/probes.py)."""

from django.urls import path

from ops import probes

urlpatterns = [
    path(probes.HEALTHZ, probes.healthz, name="healthz"),
    path(probes.READYZ, probes.readyz, name="readyz"),
    path(probes.METRICS, probes.metrics, name="metrics"),
]
