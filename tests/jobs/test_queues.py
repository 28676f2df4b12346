"""Queues: a job names its queue; a run goes there while a live qcluster consumes it, else to the default
queue; the reaper hands a stale run over again only where its queue is empty (so a backlog is not pushed
twice) and re-routes it when its queue's qcluster is gone."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from jobs import djangoq
from jobs.dispatcher import dispatch_due
from jobs.handoff import enqueue_runs
from jobs.models import JobRun
from jobs.queues import DEFAULT_QUEUE, InvalidQueueName, route, validate_queue_name
from jobs.reaper import reap
from jobs.registry import get_job, job
from tests.jobs.builders import T0, make_engine_process, make_run, make_schedule

pytestmark = pytest.mark.django_db

WINDOW = timedelta(seconds=60)


def broker_keys() -> list[str]:
    return sorted(OrmQ.objects.values_list("key", flat=True))


def test_jobs_run_on_the_default_queue_unless_they_name_another():
    assert get_job("tests.record").queue == DEFAULT_QUEUE
    assert get_job("tests.on_reports_queue").queue == "reports"
    assert get_job("backups.run").queue == "backups"


def test_a_queue_name_must_be_a_plain_lower_case_name():
    assert validate_queue_name("backups") == "backups"
    for bad in ("", "Backups", "a b", "x" * 41, "../etc"):
        with pytest.raises(InvalidQueueName, match="is not a queue name"):
            validate_queue_name(bad)
    with pytest.raises(InvalidQueueName):
        job("tests.bad_queue", queue="Bad Queue")(lambda ctx: None)


def test_a_run_takes_its_jobs_queue_and_a_retry_keeps_it():
    run = JobRun.planned(
        job_name="tests.on_reports_queue", owner_id=0, slot=T0, trigger=JobRun.Trigger.MANUAL
    )
    assert run.queue_name == "reports"
    assert run.next_attempt(due_at=T0).queue_name == "reports"
    unknown = JobRun.planned(job_name="gone.job", owner_id=0, slot=T0, trigger=JobRun.Trigger.MANUAL)
    assert unknown.queue_name == DEFAULT_QUEUE


def test_routing_keeps_a_consumed_queue_and_falls_back_to_the_default_one():
    assert route("backups", {"default", "backups"}) == "backups"
    assert route("backups", {"default"}) == DEFAULT_QUEUE
    assert route(DEFAULT_QUEUE, set()) == DEFAULT_QUEUE


def test_each_queue_is_a_broker_queue_of_its_own_under_the_sites_prefix(settings):
    prefix = settings.Q_CLUSTER["name"]
    assert djangoq.list_key(DEFAULT_QUEUE) == prefix  # what django-q2 itself would consume
    assert djangoq.list_key("backups") == f"{prefix}.backups"


def test_without_a_cluster_on_its_queue_a_run_goes_to_the_default_queue(settings):
    schedule = make_schedule("tests.on_reports_queue", now=T0)
    dispatch_due(now=T0 + timedelta(seconds=60))
    assert JobRun.objects.get(schedule=schedule).queue_name == "reports"
    assert broker_keys() == [djangoq.list_key(DEFAULT_QUEUE)]


def test_with_a_live_cluster_on_its_queue_a_run_goes_there():
    make_engine_process(now=T0 + timedelta(seconds=60), queues=["reports"], runs_dispatcher=False)
    make_schedule("tests.on_reports_queue", now=T0)
    make_schedule("tests.record", now=T0)
    dispatch_due(now=T0 + timedelta(seconds=60))
    assert broker_keys() == sorted([djangoq.list_key("reports"), djangoq.list_key(DEFAULT_QUEUE)])


def test_a_cluster_that_stopped_beating_no_longer_takes_its_queues_runs():
    make_engine_process(now=T0 - timedelta(minutes=5), queues=["reports"])
    make_schedule("tests.on_reports_queue", now=T0)
    dispatch_due(now=T0 + timedelta(seconds=60))
    assert broker_keys() == [djangoq.list_key(DEFAULT_QUEUE)]


def test_a_batch_of_default_queue_runs_asks_nothing_about_clusters():
    runs = [make_run(status=JobRun.Status.QUEUED, task_id=f"t{number}") for number in range(3)]
    with CaptureQueriesContext(connection) as queries:
        enqueue_runs([(run, None) for run in runs], now=T0)
    assert len(queries) == 1  # the one bulk insert of the ORM broker
    assert "jobs_engineprocess" not in queries[0]["sql"]


def test_a_stale_run_whose_queue_lost_its_cluster_is_handed_to_the_default_queue():
    make_engine_process(now=T0, queues=["reports"], runs_dispatcher=False)
    stale = make_run(
        status=JobRun.Status.QUEUED, job_name="tests.on_reports_queue", queue_name="reports", queued_at=T0
    )
    enqueue_runs([(stale, None)], now=T0)
    assert broker_keys() == [djangoq.list_key("reports")]

    report = reap(now=T0 + 2 * WINDOW, lost_after=WINDOW)  # the reports cluster is silent by now

    assert report.requeued == 1
    assert broker_keys() == sorted([djangoq.list_key("reports"), djangoq.list_key(DEFAULT_QUEUE)])


def test_a_stale_run_behind_others_in_a_busy_queue_is_not_pushed_again():
    waiting = [make_run(status=JobRun.Status.QUEUED, queued_at=T0, task_id=f"t{n}") for n in range(3)]
    enqueue_runs([(run, None) for run in waiting], now=T0)

    report = reap(now=T0 + 2 * WINDOW, lost_after=WINDOW)

    assert report.requeued == 0
    assert OrmQ.objects.count() == 3


def test_a_stale_run_whose_task_is_gone_from_an_empty_queue_is_pushed_again():
    stale = make_run(status=JobRun.Status.QUEUED, queued_at=T0)
    report = reap(now=T0 + 2 * WINDOW, lost_after=WINDOW)
    stale.refresh_from_db()
    assert report.requeued == 1 and stale.queued_at == T0 + 2 * WINDOW
    assert broker_keys() == [djangoq.list_key(DEFAULT_QUEUE)]


def test_qcluster_refuses_a_bad_queue_name_and_djangoq2s_name_option():
    with pytest.raises(CommandError, match="is not a queue name"):
        call_command("qcluster", "--queue", "Back Ups", stdout=StringIO())
    with pytest.raises(CommandError, match="--queue NAME"):
        call_command("qcluster", "--name", "backups", stdout=StringIO())
