"""The ORM broker's batch take (``jobs.djangoq.BatchORM``) against django-q2's own contract.

Our clusters take tasks from the broker table with one ``UPDATE … RETURNING`` instead of django-q2's read
and per-row locks. What must not change: a task is handed out once until its lock (``retry``) expires, a
row locked until later is left alone, and django-q2's own pusher, worker and monitor run and acknowledge
what it hands out. On PostgreSQL two clusters taking at once never get the same task.
"""

import threading
import uuid
from datetime import timedelta
from multiprocessing import Event, Queue, Value

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.signing import SignedPackage
from django_q.worker import worker

from jobs import djangoq
from jobs.djangoq import BatchORM
from jobs.handoff import TASK_FUNC, new_task_id, pack_task
from jobs.models import JobRun
from tests.jobs import sample_jobs
from tests.jobs.builders import T0, make_run, make_schedule


@pytest.fixture
def target(monkeypatch) -> BatchORM:
    monkeypatch.setattr(Conf, "BULK", 4)
    monkeypatch.setattr(Conf, "POLL", 0.01)
    return BatchORM(list_key=f"batch-{uuid.uuid4().hex}")


def enqueue(target: BatchORM, count: int, *, available_at=None) -> list[str]:
    names = [f"jobrun-{uuid.uuid4().hex[:6]}" for _ in range(count)]
    packages = [
        djangoq.task_package(task_id=new_task_id(), name=name, func=TASK_FUNC, args=(1,), timeout=60)
        for name in names
    ]
    djangoq.enqueue_in_transaction(packages, target=target, available_at=available_at)
    return names


def names_of(tasks) -> list[str]:
    return [SignedPackage.loads(package)["name"] for _, package in tasks or []]


@pytest.mark.django_db
def test_without_redis_our_clusters_take_tasks_through_the_batch_broker():
    if settings.Q_CLUSTER.get("redis"):
        pytest.skip("configured for Redis")
    assert isinstance(get_broker(), BatchORM)
    assert settings.Q_CLUSTER["bulk"] == settings.Q_CLUSTER["workers"]


@pytest.mark.django_db
def test_a_look_takes_up_to_bulk_tasks_oldest_first_each_once(target):
    names = enqueue(target, 6)

    first, second, third = target.dequeue(), target.dequeue(), target.dequeue()

    assert names_of(first) == names[:4]
    assert names_of(second) == names[4:]
    assert third is None  # nothing left: it waited the poll interval, as django-q2's own does


@pytest.mark.django_db
def test_a_taken_task_is_locked_until_django_q2_s_retry_window():
    target = BatchORM(list_key=f"batch-{uuid.uuid4().hex}")
    enqueue(target, 1)
    before = timezone.now()

    ((ack_id, _),) = target.dequeue()

    lock = OrmQ.objects.get(pk=ack_id).lock
    assert before + timedelta(seconds=Conf.RETRY) <= lock <= timezone.now() + timedelta(seconds=Conf.RETRY)


@pytest.mark.django_db
def test_a_task_comes_back_once_its_lock_expired_like_django_q2_redelivers(target, monkeypatch):
    (name,) = enqueue(target, 1)
    monkeypatch.setattr(Conf, "RETRY", -1)  # the worker that took it never acknowledged it

    assert names_of(target.dequeue()) == [name]
    assert names_of(target.dequeue()) == [name]


@pytest.mark.django_db
def test_a_task_locked_until_later_is_left_alone(target):
    enqueue(target, 1, available_at=timezone.now() + timedelta(minutes=1))
    (now,) = enqueue(target, 1)

    assert names_of(target.dequeue()) == [now]


@pytest.mark.django_db
def test_other_queues_are_left_alone(target):
    other = BatchORM(list_key=f"batch-{uuid.uuid4().hex}")
    enqueue(other, 2)

    assert target.dequeue() is None
    assert len(other.dequeue()) == 2


@pytest.mark.django_db(transaction=True)
def test_django_q2_s_pusher_worker_and_monitor_run_and_acknowledge_what_it_hands_out(target):
    runs = [make_run(make_schedule(now=T0), slot=T0, task_id=new_task_id()) for _ in range(3)]
    djangoq.enqueue_in_transaction([pack_task(run, 60) for run in runs], target=target)
    tasks, results, stop = Queue(), Queue(), Event()
    stop.set()  # the pusher takes one batch, then stops

    pusher(tasks, stop, broker=target)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker=target)
    for queue in (tasks, results):
        queue.close()
        queue.join_thread()

    assert set(JobRun.objects.filter(pk__in=[run.pk for run in runs]).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert sorted(call["run_id"] for call in sample_jobs.CALLS) == sorted(run.pk for run in runs)
    assert OrmQ.objects.filter(key=target.list_key).count() == 0  # acknowledged


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clusters_taking_at_once_never_get_the_same_task(target):
    names = enqueue(target, 200)
    taken: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def cluster(number: int) -> None:
        try:
            start.wait()
            while tasks := target.dequeue():
                taken[number].extend(names_of(tasks))
        finally:
            connection.close()

    threads = [threading.Thread(target=cluster, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(taken[0] + taken[1]) == sorted(names)
    assert not set(taken[0]) & set(taken[1])
