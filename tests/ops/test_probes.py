"""/healthz and /readyz in-process: liveness touches no database, readiness is JSON, 200 or 503, and both
answer whatever the Host header or the HTTPS redirect say (the real server is in tests/deploy)."""

import json

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from jobs.models import EngineProcess
from tests.jobs.builders import make_engine_process

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def dispatcher():
    """A qcluster with its dispatcher, beating now (readiness needs one)."""
    return make_engine_process(now=timezone.now())


def test_healthz_answers_without_asking_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_probes_answer_a_pod_address_over_plain_http_despite_allowed_hosts_and_the_https_redirect(
    client, settings
):
    settings.ALLOWED_HOSTS = ["scheduler.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/admin/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert client.get("/admin/login/", HTTP_HOST="scheduler.example.com").status_code == 301


def test_readyz_lists_every_check_when_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    report = json.loads(response.content)
    assert report["status"] == "ok"
    assert set(report["checks"]) == {"database", "migrations", "broker", "queue", "dispatchers"}
    assert all(check["ok"] for check in report["checks"].values())


def test_readyz_is_503_with_the_reason_when_a_migration_is_missing(client):
    MigrationRecorder(connection).migration_qs.filter(app="ops", name="0002_run_metrics").delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    report = json.loads(response.content)
    assert report["status"] == "fail"
    assert report["checks"]["migrations"]["error"] == "not migrated: ops.0002_run_metrics"


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


def test_readyz_is_503_when_no_dispatcher_beats(client, dispatcher):
    EngineProcess.objects.filter(pk=dispatcher.pk).update(stopped_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = json.loads(response.content)["checks"]
    assert checks["dispatchers"] == {"ok": False, "alive": 0, "error": "no dispatcher beat within 15 s"}
