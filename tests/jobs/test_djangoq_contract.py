"""The django-q2 seam's contract, on both brokers: what our batch enqueue puts in the broker is what
django-q2's own ``async_task`` puts there, and django-q2's own worker takes it out and runs it.

``jobs.djangoq`` builds django-q2's task package and writes broker rows / list entries itself (one bulk
insert, one RPUSH) instead of calling ``async_task`` once per run. Only the exact pin in requirements.txt
keeps that safe; these tests are what notices when an upgrade changes the format: they fail loudly.
Each test uses a queue of its own (on the machine's Redis, a list nobody else reads).
"""

import uuid
from datetime import datetime, timedelta
from multiprocessing import Queue, Value

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.monitor import monitor
from django_q.signing import SignedPackage
from django_q.tasks import async_task
from django_q.worker import worker

from jobs import djangoq
from jobs.handoff import TASK_FUNC, new_task_id, pack_task
from jobs.models import JobRun
from tests.jobs import sample_jobs
from tests.jobs.builders import T0, make_run, make_schedule

REDIS_URL = "redis://127.0.0.1:6379/0"
# Differ between any two tasks by nature: the task's id, its name, its arguments and when it was packed.
PER_TASK = {"id", "name", "args", "started"}


@pytest.fixture(params=["orm", "redis"])
def target(request, monkeypatch) -> Broker:
    """A broker of each kind, on a queue of this test's own."""
    queue = f"contract-{uuid.uuid4().hex}"
    if request.param == "orm":
        yield ORM(list_key=queue)
        return
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    redis = Redis(list_key=queue)
    try:
        yield redis
    finally:
        redis.delete_queue()


def taken_out(target: Broker) -> list[tuple[object, str]]:
    """Every package waiting in ``target``, taken out the way a cluster's pusher does (``dequeue``)."""
    taken = []
    for _ in range(djangoq.queue_size(target=target)):
        taken.extend(target.dequeue() or [])
    return taken


def run_like_a_cluster(target: Broker) -> None:
    """Take what waits in ``target`` and run it through django-q2's own worker, then its monitor (ack)."""
    tasks, results = Queue(), Queue()
    for ack_id, package in taken_out(target):
        task = SignedPackage.loads(package)
        task["ack_id"] = ack_id
        tasks.put(task)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker=target)
    for queue in (tasks, results):
        queue.close()
        queue.join_thread()


@pytest.mark.django_db
def test_our_batch_lands_in_the_broker_as_async_task_s_own_package(
    target, django_capture_on_commit_callbacks
):
    theirs_id = async_task(TASK_FUNC, 41, task_name="jobrun-41", timeout=120, save=False, broker=target)
    ours_id = new_task_id()
    package = djangoq.task_package(task_id=ours_id, name="jobrun-42", func=TASK_FUNC, args=(42,), timeout=120)
    with django_capture_on_commit_callbacks(execute=True):
        djangoq.enqueue_in_transaction([package], target=target)

    tasks = {
        task["name"]: task for task in (SignedPackage.loads(package) for _, package in taken_out(target))
    }

    theirs, ours = tasks["jobrun-41"], tasks["jobrun-42"]
    assert sorted(ours) == sorted(theirs)
    assert {key: ours[key] for key in ours if key not in PER_TASK} == {
        key: theirs[key] for key in theirs if key not in PER_TASK
    }
    assert (theirs["func"], theirs["args"], ours["args"]) == (TASK_FUNC, (41,), (42,))
    assert (theirs["id"], ours["id"]) == (theirs_id, ours_id)
    assert len(theirs["id"]) == len(ours["id"]) == 32  # both uuid4 hex
    assert all(isinstance(task["started"], datetime) and task["started"].tzinfo for task in (theirs, ours))


@pytest.mark.django_db
def test_queue_size_counts_what_either_way_of_enqueueing_left(target, django_capture_on_commit_callbacks):
    async_task(TASK_FUNC, 1, task_name="jobrun-1", timeout=60, save=False, broker=target)
    packages = [
        djangoq.task_package(task_id=new_task_id(), name=f"jobrun-{n}", func=TASK_FUNC, args=(n,), timeout=60)
        for n in (2, 3)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        djangoq.enqueue_in_transaction(packages, target=target)

    assert djangoq.queue_size(target=target) == 3


@pytest.mark.django_db(transaction=True)
def test_django_q2_s_worker_takes_our_package_from_the_broker_and_runs_the_run(target):
    run = make_run(make_schedule(now=T0), slot=T0, task_id=new_task_id())
    with transaction.atomic():
        djangoq.enqueue_in_transaction([pack_task(run, 60)], target=target)

    run_like_a_cluster(target)

    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED
    assert [call["run_id"] for call in sample_jobs.CALLS] == [run.pk]
    assert djangoq.queue_size(target=target) == 0  # taken out and acknowledged


@pytest.mark.django_db
def test_on_the_orm_broker_the_rows_are_part_of_the_callers_transaction():
    target = ORM(list_key=f"contract-{uuid.uuid4().hex}")
    package = djangoq.task_package(
        task_id=new_task_id(), name="jobrun-7", func=TASK_FUNC, args=(7,), timeout=60
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        djangoq.enqueue_in_transaction([package], target=target)
        assert OrmQ.objects.filter(key=target.list_key).count() == 1
        raise RuntimeError("the claim failed")

    assert OrmQ.objects.filter(key=target.list_key).count() == 0


@pytest.mark.django_db
def test_on_redis_nothing_is_pushed_before_the_commit(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    target = Redis(list_key=f"contract-{uuid.uuid4().hex}")
    package = djangoq.task_package(
        task_id=new_task_id(), name="jobrun-8", func=TASK_FUNC, args=(8,), timeout=60
    )
    try:
        with django_capture_on_commit_callbacks() as after_commit:
            djangoq.enqueue_in_transaction([package], target=target)
            assert djangoq.queue_size(target=target) == 0
        for callback in after_commit:
            callback()
        assert djangoq.queue_size(target=target) == 1
    finally:
        target.delete_queue()


@pytest.mark.django_db
def test_on_the_orm_broker_django_q2_takes_no_row_before_it_is_available():
    target = ORM(list_key=f"contract-{uuid.uuid4().hex}")
    now, later = timezone.now(), timezone.now() + timedelta(minutes=1)
    for name, available_at in (("jobrun-later", later), ("jobrun-now", now)):
        package = djangoq.task_package(
            task_id=new_task_id(), name=name, func=TASK_FUNC, args=(9,), timeout=60
        )
        djangoq.enqueue_in_transaction([package], target=target, available_at=available_at)

    taken = [SignedPackage.loads(package)["name"] for _, package in target.dequeue() or []]

    assert taken == ["jobrun-now"]
    assert OrmQ.objects.get(key=target.list_key, lock=later).task["name"] == "jobrun-later"  # still waiting
