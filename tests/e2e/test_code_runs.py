"""Runs from code with a real ``qcluster`` on PostgreSQL, on the Redis and on the ORM broker: ``enqueue``
inside a rolled-back ``atomic()`` never reaches a worker, inside a committed one it runs once, and a delayed
run waits for its time."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf

from jobs import djangoq, enqueue
from jobs.models import JobRun
from tests.e2e import worker_jobs
from tests.e2e.workers import REDIS_URL, Workers, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["redis", "orm"])
def cluster(request, tmp_path, monkeypatch):
    """One qcluster on a queue of this test's own; this process enqueues onto the same broker and queue."""
    assert worker_jobs  # registered here too, so enqueue() knows e2e.tick
    on_redis = request.param == "redis"
    workers = Workers(tmp_path, Q_WORKERS="2", **({} if on_redis else {"REDIS_URL": ""}))
    monkeypatch.setattr(Conf, "PREFIX", workers.queue)  # the cluster's Q_CLUSTER_NAME: its default queue
    monkeypatch.setattr(Conf, "CLUSTER_NAME", workers.queue)
    monkeypatch.setattr(Conf, "ORM", None if on_redis else "default")
    monkeypatch.setattr(Conf, "BROKER_CLASS", None if on_redis else "jobs.djangoq.BatchORM")
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL if on_redis else None)
    workers.start()
    wait_for(lambda: "event=dispatcher_started" in workers.logs(), timeout=60, message="the cluster is up")
    yield workers
    workers.stop_all()


def executions(log: Path) -> list[str]:
    return log.read_text().split()


def test_a_rolled_back_enqueue_never_reaches_a_worker_and_a_committed_one_runs_once(cluster, tmp_path):
    log = tmp_path / "executions.log"
    log.touch()

    with pytest.raises(RuntimeError), transaction.atomic():
        ghost = enqueue("e2e.tick", kwargs={"log": str(log)})
        raise RuntimeError("the request failed after enqueuing")
    with transaction.atomic():
        committed = enqueue("e2e.tick", kwargs={"log": str(log)})

    wait_for(
        lambda: JobRun.objects.filter(pk=committed.pk, status="succeeded").exists(),
        timeout=60,
        message=f"the committed run succeeds\n{cluster.logs()}",
    )
    assert executions(log) == [str(committed.pk)]
    assert list(JobRun.objects.filter(job_name="e2e.tick").values_list("pk", flat=True)) == [committed.pk]
    # The rolled-back run's task would have been ahead of the committed one in the queue; no worker ever
    # received a task for it (the runner logs every delivery it finds nothing to run for).
    assert f"run={ghost.pk} " not in cluster.logs()
    assert "event=run_not_queued" not in cluster.logs()
    assert djangoq.queue_size() == 0


def test_a_delayed_run_waits_for_its_time_then_runs_once(cluster, tmp_path):
    log = tmp_path / "executions.log"
    log.touch()

    run = enqueue("e2e.tick", kwargs={"log": str(log)}, delay=timedelta(seconds=2))
    assert JobRun.objects.get(pk=run.pk).status == "scheduled"

    wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status="succeeded").exists(),
        timeout=60,
        message=f"the delayed run succeeds\n{cluster.logs()}",
    )
    finished = JobRun.objects.get(pk=run.pk)
    assert finished.started_at >= finished.due_at == run.due_at
    assert finished.trigger == "enqueued" and executions(log) == [str(run.pk)]
    assert finished.finished_at <= timezone.now()
