"""``from jobs import enqueue``: fire-and-forget and delayed runs from code, joined to the caller's
transaction, unique keys decided by the database, and clear errors for what cannot be used."""

import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, transaction
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from jobs import djangoq, enqueue
from jobs.api import EnqueueRefused
from jobs.dispatcher import dispatch_due
from jobs.models import JobRun, JobSwitch
from jobs.registry import GlobalJobError, InvalidJobArguments, UnknownJobError
from jobs.runner import run_queued
from jobs.services import RunStateRefused, retry_run
from tests.jobs import sample_jobs
from tests.jobs.builders import T0

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/0"


def tasks_in_broker() -> list[int]:
    """The run ids of the tasks waiting on the ORM broker."""
    return [SignedPackage.loads(row.payload)["args"][0] for row in OrmQ.objects.order_by("pk")]


def run_it(run: JobRun, now=T0) -> str:
    return run_queued(run.pk, worker="test-worker", clock=lambda: now)


# -- the import --------------------------------------------------------------------------------------------


def test_from_jobs_import_enqueue_works_in_a_fresh_process_and_leaves_app_loading_alone():
    code = (
        "import jobs, django; django.setup(); "
        "from jobs import enqueue, EnqueueRefused; import jobs.handoff; from jobs import enqueue as again; "
        "print(enqueue.__module__, enqueue is again, EnqueueRefused.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["jobs.api", "True", "EnqueueRefused"]


# -- fire-and-forget and delayed -----------------------------------------------------------------------


def test_fire_and_forget_queues_the_run_and_hands_it_to_the_broker_at_once():
    run = enqueue("tests.greet", kwargs={"name": "Ada"}, now=T0)

    assert (run.status, run.trigger, run.slot, run.due_at, run.owner_id) == ("queued", "enqueued", T0, T0, 0)
    assert run.schedule_id is None and run.task_id
    assert tasks_in_broker() == [run.pk]
    assert run_it(run) == "succeeded"
    run.refresh_from_db()
    assert run.result == {"said": "Hello, Ada"}


def test_a_delayed_run_waits_and_the_dispatcher_hands_it_over_when_due(owner):
    run = enqueue("tests.greet", owner=owner, kwargs={"name": "Ada"}, delay=timedelta(hours=1), now=T0)

    hour_later = T0 + timedelta(hours=1)
    assert (run.status, run.slot, run.due_at, run.owner_id) == ("scheduled", hour_later, hour_later, owner.pk)
    assert tasks_in_broker() == []
    dispatch_due(now=T0 + timedelta(minutes=59))
    assert JobRun.objects.get(pk=run.pk).status == "scheduled"

    dispatch_due(now=T0 + timedelta(hours=1))

    assert JobRun.objects.get(pk=run.pk).status == "queued"
    assert tasks_in_broker() == [run.pk]


def test_at_is_any_aware_time_and_a_past_one_runs_now():
    in_london = datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/London"))

    later = enqueue("tests.record", at=in_london, now=T0)
    past = enqueue("tests.record", at=T0 - timedelta(days=1), now=T0)

    assert later.due_at == datetime(2026, 7, 1, 8, 30, tzinfo=ZoneInfo("UTC"))
    assert later.status == "scheduled"
    assert (past.due_at, past.status) == (T0, "queued")


def test_an_enqueued_run_follows_its_jobs_retry_policy_and_keeps_its_history():
    run = enqueue("tests.fail_then_retry", now=T0)

    assert run_it(run) == "failed"

    retry = JobRun.objects.get(retry_of=run)
    assert (retry.trigger, retry.attempt, retry.status, retry.slot) == ("retry", 2, "scheduled", T0)
    assert T0 + timedelta(seconds=10) <= retry.due_at <= T0 + timedelta(seconds=12.5)


def test_a_switched_off_job_gets_its_run_cancelled_by_the_dispatcher_not_run():
    JobSwitch.objects.create(job_name="tests.record", enabled=False)

    run = enqueue("tests.record", now=T0)
    assert (run.status, tasks_in_broker()) == ("scheduled", [])

    dispatch_due(now=T0)
    run.refresh_from_db()
    assert run.status == "cancelled" and "switched off" in run.error


def test_with_jobs_disabled_the_run_waits_until_dispatching_resumes(settings):
    settings.JOBS_ENABLED = False

    run = enqueue("tests.record", now=T0)

    assert (run.status, tasks_in_broker()) == ("scheduled", [])


# -- transactions ---------------------------------------------------------------------------------------


def test_inside_a_rolled_back_transaction_neither_the_run_nor_its_task_remain():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("tests.record", kwargs={"to": "someone"}, now=T0)
        enqueue("tests.record", delay=timedelta(hours=1), now=T0)
        raise RuntimeError("the request failed after enqueuing")

    assert JobRun.objects.count() == 0
    assert OrmQ.objects.count() == 0


def test_inside_a_committed_transaction_the_run_and_its_task_are_there():
    with transaction.atomic():
        run = enqueue("tests.record", now=T0)

    assert list(JobRun.objects.values_list("pk", flat=True)) == [run.pk]
    assert tasks_in_broker() == [run.pk]


@pytest.fixture
def redis_broker(monkeypatch):
    """django-q2's Redis broker on a queue of this test's own."""
    queue = f"enqueue-{uuid.uuid4().hex}"
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "BROKER_CLASS", None)  # the settings name our ORM broker class
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    monkeypatch.setattr(Conf, "PREFIX", queue)  # the default queue's broker queue is the site's prefix
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    target = djangoq.broker()
    yield target
    target.delete_queue()


def test_on_redis_the_task_is_pushed_after_commit_and_never_after_a_rollback(
    redis_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue("tests.record", now=T0)
            raise RuntimeError("rolled back")
        assert djangoq.queue_size(target=redis_broker) == 0

        with transaction.atomic():
            run = enqueue("tests.record", now=T0)
            assert djangoq.queue_size(target=redis_broker) == 0  # not before the commit

    assert djangoq.queue_size(target=redis_broker) == 1
    ((_, package),) = redis_broker.dequeue()
    assert SignedPackage.loads(package)["args"] == (run.pk,)


# -- unique keys ----------------------------------------------------------------------------------------


def test_a_second_enqueue_with_the_key_returns_the_run_that_holds_it(owner):
    first = enqueue("tests.record", owner=owner, unique_key="invoice-42", now=T0)

    again = enqueue("tests.record", owner=owner, unique_key="invoice-42", kwargs={"other": 1}, now=T0)

    assert again.pk == first.pk and again.kwargs == {}
    assert JobRun.objects.count() == 1 and tasks_in_broker() == [first.pk]


def test_a_waiting_run_holds_its_key_too():
    first = enqueue("tests.record", unique_key="nightly-report", delay=timedelta(hours=1), now=T0)

    assert enqueue("tests.record", unique_key="nightly-report", now=T0).pk == first.pk


def test_once_the_holder_has_ended_the_key_makes_a_new_run():
    first = enqueue("tests.record", unique_key="sync", now=T0)
    run_it(first)

    second = enqueue("tests.record", unique_key="sync", now=T0)

    assert second.pk != first.pk and second.status == "queued"


def test_a_retry_waiting_for_its_backoff_holds_the_key():
    first = enqueue("tests.fail_then_retry", unique_key="charge-7", now=T0)
    run_it(first)
    retry = JobRun.objects.get(retry_of=first)

    assert enqueue("tests.fail_then_retry", unique_key="charge-7", now=T0).pk == retry.pk


def test_retrying_a_failed_run_by_hand_is_refused_while_a_newer_run_holds_its_key():
    failed = enqueue("tests.fail", unique_key="export", now=T0)
    run_it(failed)
    newer = enqueue("tests.fail", unique_key="export", now=T0)

    with pytest.raises(RunStateRefused, match=f"held by run {newer.pk} \\(queued\\)"):
        retry_run(run=JobRun.objects.get(pk=failed.pk), now=T0)

    assert JobRun.objects.count() == 2


def test_keys_belong_to_one_owner_and_one_job(owner, other_owner):
    mine = enqueue("tests.record", owner=owner, unique_key="k", now=T0)

    theirs = enqueue("tests.record", owner=other_owner.pk, unique_key="k", now=T0)
    other_job = enqueue("tests.greet", owner=owner, kwargs={"name": "x"}, unique_key="k", now=T0)

    assert len({mine.pk, theirs.pk, other_job.pk}) == 3
    assert theirs.owner_id == other_owner.pk  # another owner's key never hands back this owner's run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_enqueuing_one_key_at_once_make_one_run():
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    returned: list[int] = []
    errors: list[BaseException] = []

    def enqueue_at_once() -> None:
        try:
            barrier.wait()
            returned.append(enqueue("tests.record", unique_key="the-one", now=T0).pk)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=enqueue_at_once) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    (run,) = JobRun.objects.all()
    assert returned == [run.pk] * threads_count
    assert tasks_in_broker() == [run.pk]


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: enqueue("nobody.registered.this"), UnknownJobError, "No job is registered as"),
        (lambda: enqueue("tests.greet"), InvalidJobArguments, "missing a required argument: 'name'"),
        (
            lambda: enqueue("tests.greet", kwargs={"name": "x", "colour": "red"}),
            InvalidJobArguments,
            "unexpected keyword argument 'colour'",
        ),
        (
            lambda: enqueue("tests.record", kwargs={"when": datetime(2026, 1, 1)}),
            InvalidJobArguments,
            "stored on the run as JSON",
        ),
        (lambda: enqueue("tests.record", at=datetime(2026, 1, 1, 9)), EnqueueRefused, "has no time zone"),
        (
            lambda: enqueue("tests.record", at=T0, delay=timedelta(hours=1)),
            EnqueueRefused,
            "not both",
        ),
        (lambda: enqueue("tests.record", delay=timedelta(hours=-1)), EnqueueRefused, "cannot be negative"),
        (lambda: enqueue("tests.record", delay=60), EnqueueRefused, "delay is a timedelta"),
        (lambda: enqueue("tests.record", owner=987654), EnqueueRefused, "No owner with id 987654"),
        (lambda: enqueue("tests.record", owner="acme"), EnqueueRefused, "an Owner or an owner id"),
        (lambda: enqueue("tests.record", queue="backups; DROP"), EnqueueRefused, "is not a queue name"),
        (lambda: enqueue("tests.record", unique_key=""), EnqueueRefused, "non-empty text"),
        (lambda: enqueue("tests.record", unique_key="k" * 201), EnqueueRefused, "at most 200"),
    ],
    ids=[
        "unknown job",
        "missing argument",
        "unknown argument",
        "not json",
        "naive at",
        "at and delay",
        "negative delay",
        "delay in seconds",
        "missing owner",
        "owner slug",
        "queue name",
        "empty key",
        "long key",
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_makes_no_run(call, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        call()

    assert JobRun.objects.count() == 0 and OrmQ.objects.count() == 0


def test_a_run_goes_to_its_jobs_queue_unless_another_is_named():
    assert enqueue("tests.on_reports_queue", now=T0).queue_name == "reports"
    assert enqueue("tests.record", now=T0).queue_name == "default"
    named = enqueue("tests.record", queue="backups", now=T0)
    assert (named.status, named.queue_name) == ("queued", "backups")


def test_a_job_that_works_on_every_owner_is_not_enqueued_for_a_tenant(owner):
    with pytest.raises(GlobalJobError, match="only the global owner"):
        enqueue("notifications.send", owner=owner, now=T0)
    assert JobRun.objects.count() == 0
    assert enqueue("notifications.send", now=T0).owner_id == 0


def test_a_job_receives_the_enqueued_arguments():
    run = enqueue("tests.greet", kwargs={"name": "Grace", "greeting": "Hi"}, now=T0)

    run_it(run)

    (call,) = sample_jobs.CALLS
    assert call == {"run_id": run.pk, "kwargs": {"name": "Grace", "greeting": "Hi"}}
