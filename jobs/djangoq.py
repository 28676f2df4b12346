"""django-q2 behind one seam: every piece of django-q2 this project touches is named here, and only here.

We use django-q2 as a broker and a pool of workers; our dispatcher replaces its scheduler. These are the
places where we reach past its public ``async_task``:

- the task package: the dict ``async_task`` builds, signed with ``SignedPackage`` (``task_package``);
- many packages at once (``enqueue_in_transaction``): one ``OrmQ`` bulk insert that joins the caller's
  transaction on the ORM broker, one ``RPUSH`` of them all right after commit on Redis (``async_task``
  would commit one broker row per call on the ORM broker, ~30 per second);
- the broker (``broker``, ``queue_size``) and the state each cluster publishes (``cluster_states``);
- on the ORM broker, the way a cluster takes tasks out (``BatchORM``, named in ``Q_CLUSTER["broker_class"]``):
  one statement takes a batch, where django-q2's own ``dequeue`` reads rows and locks them one by one;
- the cluster our ``qcluster`` command starts inside itself (``Cluster``, ``QClusterCommand``), and the
  queue it consumes (``consume``).

Queues (``jobs.queues``) are django-q2's multi-queue setup: every process of a site shares
``Q_CLUSTER["name"]`` (django-q2's prefix: it salts the signed packages and names the published cluster
state), and each queue is a broker ``list_key`` of its own (django-q2's per-cluster queue name):
the prefix itself for ``default`` (as django-q2 names a cluster's queue when nothing else is said),
``<prefix>.<queue>`` for the others (``list_key``).

tests/jobs/test_djangoq_contract.py runs django-q2's own ``async_task`` beside ``enqueue_in_transaction`` on
both brokers and compares what lands there (and what a worker takes out), so an upgrade that changes the
format fails loudly there; the exact pin in requirements.txt says so beside it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import sleep

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_q.status import Stat

from jobs.queues import DEFAULT_QUEUE, validate_queue_name

__all__ = [
    "BatchORM",
    "BrokerUnavailable",
    "Cluster",
    "ClusterState",
    "QClusterCommand",
    "broker",
    "cluster_states",
    "consume",
    "enqueue_in_transaction",
    "list_key",
    "ping_redis",
    "queue_size",
    "task_package",
]

logger = logging.getLogger(__name__)

# One broker per queue and process: a Redis broker holds a connection pool worth keeping.
_brokers: dict[str, Broker] = {}


class BrokerUnavailable(RuntimeError):
    """The broker could not be asked (Redis down); the message says why."""


# Bound on first use by the module's ``__getattr__`` below.
Cluster: type
QClusterCommand: type


def __getattr__(name: str) -> type:
    """``Cluster`` and ``QClusterCommand``, imported on first use: only a process that starts a cluster
    needs django-q2's worker machinery (multiprocessing, its pusher, worker and monitor), and a web,
    backup or ``jobs`` command process is smaller without it."""
    if name == "Cluster":
        from django_q.cluster import Cluster

        return Cluster
    if name == "QClusterCommand":
        from django_q.management.commands.qcluster import Command

        return Command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _broker_errors() -> tuple[type[Exception], ...]:
    """What the configured broker raises when it cannot be asked. The redis client is imported with
    django-q2's Redis broker, so a site on the ORM broker never loads it (its errors are the database's)."""
    if Conf.ORM:
        return ()
    from redis.exceptions import RedisError

    return (RedisError,)


def ping_redis(url: str, *, timeout: float) -> None:
    """PING the Redis at ``url``, waiting ``timeout`` seconds at most; BrokerUnavailable if it is silent."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as error:
        raise BrokerUnavailable(str(error)) from error
    finally:
        client.close()


def list_key(queue: str = DEFAULT_QUEUE) -> str:
    """The broker queue (django-q2's ``list_key``) of our queue ``queue``."""
    return Conf.PREFIX if queue == DEFAULT_QUEUE else f"{Conf.PREFIX}.{validate_queue_name(queue)}"


def broker(queue: str = DEFAULT_QUEUE) -> Broker:
    """The configured broker (``Q_CLUSTER``: ORM or Redis) for our queue ``queue``."""
    key = list_key(queue)
    if key not in _brokers:
        _brokers[key] = get_broker(key)
    return _brokers[key]


def consume(queue: str) -> None:
    """Make the cluster this process starts next take its tasks from ``queue`` (call before ``Cluster``).

    django-q2's sentinel asks ``get_broker()`` for ``Conf.CLUSTER_NAME`` when it starts; its own
    ``qcluster --name`` sets an environment variable that is read too early to count here.
    """
    Conf.CLUSTER_NAME = list_key(queue)


def worker_count() -> int:
    """How many worker processes a cluster started here runs (``Q_CLUSTER["workers"]``)."""
    return Conf.WORKERS


def task_package(*, task_id: str, name: str, func: str, args: tuple, timeout: int) -> str:
    """The signed package ``async_task(func, *args, task_name=name, timeout=timeout, save=False)`` pushes.

    ``task_id`` is ours (a uuid4 hex, like django-q2's), so a run can name its task before it is queued.
    """
    task = {"id": task_id, "name": name, "func": func, "args": args, "timeout": timeout, "save": False}
    # What async_task adds from the configuration when the caller does not say.
    if Conf.ACK_FAILURES:
        task["ack_failure"] = Conf.ACK_FAILURES
    task["kwargs"] = {}
    task["started"] = timezone.now()
    return SignedPackage.dumps(task)


def enqueue_in_transaction(
    packages: list[str],
    *,
    queue: str = DEFAULT_QUEUE,
    target: Broker | None = None,
    available_at: datetime | None = None,
) -> None:
    """Hand ``packages`` to the broker queue of ``queue`` as part of the caller's transaction.

    On the ORM broker the rows join the transaction (claim and enqueue commit together, in one INSERT),
    locked until ``available_at`` when given (django-q2's ``lock``: no cluster takes a row before it); on
    Redis one RPUSH carries them all right after commit, so a rolled-back claim never reaches a worker. A
    push that fails is logged; the runs stay ``queued`` and the reaper hands them over again.
    """
    if not packages:
        return
    target = target or broker(queue)
    if isinstance(target, ORM):
        lock = available_at or timezone.now()
        # OrmQ.key must not be null even when a test set no list key (django-q2's ORM.enqueue does the same).
        key = target.list_key or Conf.CLUSTER_NAME
        OrmQ.objects.using(Conf.ORM).bulk_create(
            [OrmQ(key=key, payload=package, lock=lock) for package in packages]
        )
    else:
        transaction.on_commit(lambda: _push(target, packages))


def _push(target: Broker, packages: list[str]) -> None:
    from django_q.brokers.redis_broker import Redis  # loaded with the broker (never on the ORM broker)

    try:
        if isinstance(target, Redis):
            target.connection.rpush(target.list_key, *packages)
        else:
            for package in packages:
                target.enqueue(package)
    except Exception:
        # The runs stay `queued`; the reaper re-enqueues them once they are overdue.
        logger.exception("event=enqueue_failed count=%s", len(packages))


class BatchORM(ORM):
    """django-q2's ORM broker, taking up to ``Q_CLUSTER["bulk"]`` tasks in one statement.

    django-q2's own ``dequeue`` reads up to ``bulk`` available rows, in no order, then locks each with an
    UPDATE of its own; two clusters read the same rows, and all but one of their UPDATEs find nothing. Here
    one ``UPDATE … RETURNING`` locks and returns the oldest available rows (until ``retry`` from now, as
    django-q2 locks them), skipping rows another cluster is taking (PostgreSQL's ``SKIP LOCKED``; SQLite
    runs one writer at a time). Everything else, including how a finished task is acknowledged (its row
    deleted) and when a task is delivered again (its lock expired), is django-q2's.
    """

    def dequeue(self) -> list[tuple[int, str]] | None:
        connection = connections[self.get_connection().db]
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _take_sql(connection),
                [
                    connection.ops.adapt_datetimefield_value(now + timedelta(seconds=Conf.RETRY)),
                    self.list_key,
                    connection.ops.adapt_datetimefield_value(now),
                    Conf.BULK,
                ],
            )
            tasks = sorted(cursor.fetchall())
        if tasks:
            return tasks
        sleep(Conf.POLL)  # an empty queue: look again after the poll interval, as django-q2 does
        return None


def _take_sql(connection: BaseDatabaseWrapper) -> str:
    quote = connection.ops.quote_name
    table = quote(OrmQ._meta.db_table)
    pk, key, lock, payload = (
        quote(OrmQ._meta.get_field(name).column) for name in ("id", "key", "lock", "payload")
    )
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return (
        f"UPDATE {table} SET {lock} = %s WHERE {pk} IN ("  # noqa: S608 - names come from model metadata
        f"SELECT {pk} FROM {table} WHERE {key} = %s AND {lock} < %s ORDER BY {pk} LIMIT %s{skip_locked}"
        f") RETURNING {pk}, {payload}"
    )


def queue_size(queue: str = DEFAULT_QUEUE, *, target: Broker | None = None) -> int:
    """Tasks of ``queue`` waiting in the broker for a worker; BrokerUnavailable when it cannot be asked."""
    try:
        return (target or broker(queue)).queue_size()
    except _broker_errors() as error:
        raise BrokerUnavailable(str(error)) from error


@dataclass(frozen=True)
class ClusterState:
    """What one running qcluster last published about itself."""

    cluster_id: str
    host: str
    status: str
    workers: int
    started_at: datetime | None
    reported_at: datetime

    @property
    def alive(self) -> bool:
        return self.status not in (Conf.STOPPED, Conf.STOPPING)


def cluster_states(target: Broker | None = None) -> list[ClusterState]:
    """Each qcluster's published state, by host; BrokerUnavailable when the broker cannot be asked.

    A cluster publishes every guard cycle with a few seconds' expiry, so one that died drops out by itself.
    """
    try:
        stats = Stat.get_all(broker=target or broker())
    except _broker_errors() as error:
        raise BrokerUnavailable(str(error)) from error
    states = [
        ClusterState(
            cluster_id=str(stat.cluster_id),
            host=stat.host,
            status=str(stat.status),
            workers=len(stat.workers),
            started_at=stat.tob,
            reported_at=stat.timestamp,
        )
        for stat in stats
    ]
    return sorted(states, key=lambda state: (state.host, state.cluster_id))
