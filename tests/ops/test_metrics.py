"""/metrics: Prometheus text read back with prometheus_client's own parser; counts follow the engine's real
transitions (the database triggers see them), and a scrape asks the same queries at 10 or 100,000 runs."""

import logging
import math
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups.models import Backup
from jobs.history import prune_runs
from jobs.models import JobRun
from jobs.outcomes import record_failure, record_success
from jobs.registry import JobContext, get_job
from ops.models import RunEvent
from ops.run_metrics import roll_up_run_events
from tenants.models import GLOBAL_OWNER_ID
from tests.builders import make_superuser
from tests.jobs.builders import make_engine_process

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted label pairs: value}}`` of one scrape, parsed by prometheus_client."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def labels(**pairs: str) -> tuple:
    return tuple(sorted(pairs.items()))


def queued_run(job_name: str = "tests.record", *, owner_id: int = GLOBAL_OWNER_ID, due_at=NOW) -> JobRun:
    return JobRun.objects.create(
        job_name=job_name, owner_id=owner_id, slot=due_at, due_at=due_at, queued_at=due_at
    )


def run_to_the_end(run: JobRun, *, late_by: float, took: float, status: str = JobRun.Status.SUCCEEDED):
    """The runner's two steps, through the engine's own transitions: queued → running, then the end."""
    started = run.due_at + timedelta(seconds=late_by)
    assert run.mark_running(now=started, worker="tests")
    ended = started + timedelta(seconds=took)
    if status == JobRun.Status.SUCCEEDED:
        assert record_success(run, now=ended)
    else:
        assert record_failure(run, status=status, now=ended, error="it went wrong")


def test_metrics_are_off_while_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_metrics_need_the_bearer_token_even_for_a_logged_in_superuser(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(make_superuser())
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_finished_runs_are_counted_by_job_owner_tier_and_status(client, owner):
    run_to_the_end(queued_run(), late_by=0.02, took=1)
    run_to_the_end(queued_run(), late_by=0.02, took=1)
    run_to_the_end(
        queued_run("tests.fail", owner_id=owner.pk), late_by=0.1, took=3, status=JobRun.Status.FAILED
    )
    # Runs finished at the dispatcher's door (inserted final) and by a bulk UPDATE count as well.
    JobRun.objects.create(job_name="tests.record", owner_id=owner.pk, slot=NOW, due_at=NOW, status="skipped")
    JobRun.objects.filter(pk=queued_run(owner_id=owner.pk).pk).update(status=JobRun.Status.CANCELLED)

    runs = scrape(client)["scheduler_job_runs_total"]

    assert runs == {
        labels(job="tests.record", owner_tier="global", status="succeeded"): 2,
        labels(job="tests.fail", owner_tier="tenant", status="failed"): 1,
        labels(job="tests.record", owner_tier="tenant", status="skipped"): 1,
        labels(job="tests.record", owner_tier="tenant", status="cancelled"): 1,
    }


def test_lateness_and_duration_fall_into_their_buckets(client):
    run_to_the_end(queued_run(), late_by=0.3, took=1.7)
    run_to_the_end(queued_run(), late_by=4.0, took=0.05)

    samples = scrape(client)
    series = labels(job="tests.record", owner_tier="global")
    lateness = samples["scheduler_job_run_lateness_seconds_bucket"]
    assert lateness[labels(job="tests.record", owner_tier="global", le="0.25")] == 0
    assert lateness[labels(job="tests.record", owner_tier="global", le="0.5")] == 1
    assert lateness[labels(job="tests.record", owner_tier="global", le="5.0")] == 2
    assert lateness[labels(job="tests.record", owner_tier="global", le="+Inf")] == 2
    assert samples["scheduler_job_run_lateness_seconds_count"][series] == 2
    assert samples["scheduler_job_run_lateness_seconds_sum"][series] == pytest.approx(4.3, abs=1e-3)
    duration = samples["scheduler_job_run_duration_seconds_bucket"]
    assert duration[labels(job="tests.record", owner_tier="global", le="0.1")] == 1
    assert duration[labels(job="tests.record", owner_tier="global", le="1.0")] == 1
    assert duration[labels(job="tests.record", owner_tier="global", le="5.0")] == 2
    assert samples["scheduler_job_run_duration_seconds_sum"][series] == pytest.approx(1.75)


def test_a_run_is_counted_once_however_often_it_is_scraped_or_updated(client):
    run = queued_run()
    run_to_the_end(run, late_by=0.1, took=1)
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=NOW, error="")  # neither a start nor an end
    first = scrape(client)
    second = scrape(client)
    key = labels(job="tests.record", owner_tier="global", status="succeeded")
    assert first["scheduler_job_runs_total"][key] == second["scheduler_job_runs_total"][key] == 1
    assert not RunEvent.objects.exists()


def test_pruning_the_run_history_never_lowers_a_counter(client):
    run_to_the_end(queued_run(due_at=NOW - timedelta(days=200)), late_by=0.1, took=1)
    before = scrape(client)["scheduler_job_runs_total"]
    assert prune_runs(older_than=timedelta(days=90), now=NOW) == 1
    assert scrape(client)["scheduler_job_runs_total"] == before


def test_active_runs_and_the_queue_are_reported_as_they_are_now(client, owner):
    queued_run(due_at=NOW - timedelta(seconds=120))
    queued_run(owner_id=owner.pk, due_at=NOW - timedelta(seconds=5))
    running = queued_run()
    JobRun.objects.filter(pk=running.pk).update(status=JobRun.Status.RUNNING, started_at=NOW)

    with time_machine.travel(NOW, tick=False):
        samples = scrape(client)

    assert samples["scheduler_job_runs_active"] == {
        labels(job="tests.record", owner_tier="global", status="queued"): 1,
        labels(job="tests.record", owner_tier="global", status="running"): 1,
        labels(job="tests.record", owner_tier="tenant", status="queued"): 1,
    }
    assert samples["scheduler_oldest_queued_run_age_seconds"][()] == 120
    assert samples["scheduler_broker_up"][()] == 1
    # Nothing was enqueued: every queue a job names is empty (tests may register jobs of more queues).
    depths = samples["scheduler_queue_depth"]
    assert {labels(queue="default"), labels(queue="backups")} <= set(depths) and set(depths.values()) == {0}


def test_live_dispatchers_and_clusters_per_queue_are_reported(client):
    make_engine_process(now=NOW, workers=4)  # a qcluster with its dispatcher
    make_engine_process(now=NOW, pid=2, workers=1, queues=["backups"], runs_dispatcher=False)
    make_engine_process(now=NOW, pid=3, workers=0, queues=())  # manage.py jobs dispatch
    make_engine_process(now=NOW, pid=4).mark_stopped(now=NOW)
    make_engine_process(now=NOW - timedelta(minutes=5), pid=5)  # silent: gone

    with time_machine.travel(NOW, tick=False):
        samples = scrape(client)

    assert samples["scheduler_dispatchers_alive"][()] == 2
    assert samples["scheduler_clusters_alive"] == {labels(queue="default"): 1, labels(queue="backups"): 1}
    assert samples["scheduler_cluster_workers"] == {labels(queue="default"): 4, labels(queue="backups"): 1}


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_a_dead_broker_is_reported_and_the_rest_still_scraped(client):
    samples = scrape(client)
    assert samples["scheduler_broker_up"][()] == 0
    assert "scheduler_queue_depth" not in samples
    assert "scheduler_backup_last_good_age_seconds" in samples


def test_each_owner_has_its_last_good_backup_age_size_and_duration(client, owner, other_owner):
    Backup.objects.create(
        owner=owner,
        scope="tenant",
        status="verified",
        size=2048,
        duration=timedelta(seconds=30),
        started_at=NOW - timedelta(days=1),
    )
    Backup.objects.create(owner=owner, scope="tenant", status="failed", started_at=NOW - timedelta(hours=1))
    other_owner.is_active = False
    other_owner.save()

    with time_machine.travel(NOW, tick=False):
        samples = scrape(client)

    age = samples["scheduler_backup_last_good_age_seconds"]
    assert age[labels(owner=owner.slug)] == 86400
    assert age[labels(owner="global")] == math.inf  # no good backup at all
    assert labels(owner=other_owner.slug) not in age  # inactive owners are not watched
    assert samples["scheduler_backup_last_good_size_bytes"] == {labels(owner=owner.slug): 2048}
    assert samples["scheduler_backup_last_good_duration_seconds"] == {labels(owner=owner.slug): 30}


def insert_finished_runs(count: int) -> None:
    """``count`` finished runs from one INSERT … SELECT over a generated series (the triggers see each)."""
    quote, ops = connection.ops.quote_name, connection.ops
    columns = ", ".join(
        quote(name)
        for name in (
            "job_name", "owner_id", "kwargs", "slot", "due_at", "trigger", "status", "attempt", "started_at",
            "finished_at", "duration", "worker", "task_id", "error", "traceback", "created_at",
        )
    )  # fmt: skip
    duration = JobRun._meta.get_field("duration").get_db_prep_value(timedelta(seconds=2), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < %s) "
            f"INSERT INTO {quote(JobRun._meta.db_table)} ({columns}) "
            "SELECT 'tests.record', 0, '{}', %s, %s, 'scheduled', "
            "CASE n %% 3 WHEN 0 THEN 'succeeded' WHEN 1 THEN 'failed' ELSE 'skipped' END, "
            "1, %s, %s, %s, '', '', '', '', %s FROM series",
            [
                count,
                ops.adapt_datetimefield_value(NOW),
                ops.adapt_datetimefield_value(NOW),
                ops.adapt_datetimefield_value(NOW + timedelta(milliseconds=30)),
                ops.adapt_datetimefield_value(NOW + timedelta(seconds=2)),
                duration,
                ops.adapt_datetimefield_value(NOW),
            ],
        )


def scrape_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        scrape(client)
    return len(queries)


def test_a_scrape_asks_the_same_queries_for_10_or_100000_runs(client):
    insert_finished_runs(10)
    with_few_pending = scrape_queries(client)
    with_few = scrape_queries(client)

    insert_finished_runs(100_000)
    with_many_pending = scrape_queries(client)  # folds one batch of the 200,000 events
    while roll_up_run_events():  # what the ops.roll_up_run_metrics job does every minute
        pass
    with_many = scrape_queries(client)

    assert with_few_pending == with_many_pending
    assert with_few == with_many
    totals = scrape(client)["scheduler_job_runs_total"]
    assert sum(totals.values()) == 100_010


def test_the_fold_runs_every_minute_as_a_job_and_empties_the_events_table(client):
    run_to_the_end(queued_run(), late_by=0.1, took=1)
    definition = get_job("ops.roll_up_run_metrics")
    assert definition.every == timedelta(minutes=1)

    context = JobContext(
        run_id=0, job_name=definition.name, owner_id=GLOBAL_OWNER_ID, schedule_id=None, slot=NOW, attempt=1,
        logger=logging.getLogger("test"),
    )  # fmt: skip
    assert definition.func(context) == {"folded": 2}  # the start and the end of the run

    assert not RunEvent.objects.exists()
    key = labels(job="tests.record", owner_tier="global", status="succeeded")
    assert scrape(client)["scheduler_job_runs_total"][key] == 1
