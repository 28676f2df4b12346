"""``/healthz``, ``/readyz`` and ``/metrics``: what orchestrators, load balancers and Prometheus call.

The routes live in ``config/urls.py``. ``ProbesMiddleware`` (first in MIDDLEWARE) answers these paths
before host validation and the HTTPS redirect: probes and scrapers call a pod by its address over plain
HTTP, which ``ALLOWED_HOSTS`` and ``SECURE_SSL_REDIRECT`` would refuse. Nothing they answer needs either:
no links are built and no cookies are set.

- ``/healthz``: liveness. The process answers; no database, no authentication.
- ``/readyz``: readiness, ``jobs.health.readiness`` as JSON; 200 when every check passes, else 503.
- ``/metrics``: Prometheus text format (``ops.metrics``), only with ``Authorization: Bearer
  <METRICS_TOKEN>``; 404 while ``METRICS_TOKEN`` is unset, 401 with a wrong or missing token.
"""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import resolve
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from jobs.health import readiness
from ops.metrics import SchedulerCollector

logger = logging.getLogger(__name__)

HEALTHZ = "healthz"
READYZ = "readyz"
METRICS = "metrics"
PROBE_PATHS = frozenset(f"/{name}" for name in (HEALTHZ, READYZ, METRICS))


class ProbesMiddleware:
    """Serve the probe routes before the rest of the middleware (see the module docstring)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info not in PROBE_PATHS:
            return self.get_response(request)
        match = resolve(request.path_info)
        return match.func(request, *match.args, **match.kwargs)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    report = readiness(now=timezone.now())
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(offered.encode(), token.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(now=timezone.now()))
    # The classic text format unless the scraper asks for OpenMetrics (prometheus_client decides).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    try:
        body = encode(registry)
    except DatabaseError as error:
        logger.warning("event=metrics_unavailable error=%s", type(error).__name__)
        return HttpResponse("The database is unavailable.\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=content_type)
