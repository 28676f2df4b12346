"""Whether this deployment can do its work: the checks behind ``/readyz`` and ``manage.py jobs health``.

Each check is a plain function of ``now`` that answers quickly (a few indexed queries, a two-second
timeout on the broker) and returns a ``CheckResult``. What a result carries is safe for an unauthenticated
probe to read: ok or not, counts, ages in seconds, and a short reason naming the kind of failure, never a
host, URL, user name or password (the full error goes to the log).

``READINESS_CHECKS`` is the list both callers run, in order. A check that needs another one (everything
that reads tables needs ``database``) is reported as failed without running when that one failed. To add a
check, append a ``HealthCheck`` to the list.
"""

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from jobs.djangoq import BrokerUnavailable, ping_redis, queue_size
from jobs.models import EngineProcess, JobRun
from jobs.queues import DEFAULT_QUEUE
from jobs.registry import registered_jobs

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # JSON-safe facts: counts, seconds, names of queues. Nothing secret.
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # one short line when not ok


@dataclass(frozen=True)
class HealthCheck:
    name: str
    run: Callable[[datetime], CheckResult]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthReport:
    results: dict[str, CheckResult]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, result in self.results.items() if not result.ok]

    def as_dict(self) -> dict[str, Any]:
        """``{"status": "ok" | "fail", "checks": {name: {"ok": …, "error"?: …, **details}}}``."""
        checks = {}
        for name, result in self.results.items():
            entry: dict[str, Any] = {"ok": result.ok, **result.details}
            if result.error:
                entry["error"] = result.error
            checks[name] = entry
        return {"status": "ok" if self.ok else "fail", "checks": checks}


def _failure(check: str, error: Exception, **details: Any) -> CheckResult:
    # The exception's text may name hosts and users: it goes to the log, the result names only its kind
    # (the broker client's own, e.g. ConnectionError, rather than the BrokerUnavailable that carries it).
    first_line = (str(error).strip().splitlines() or [""])[0]
    logger.warning("event=health_check_failed check=%s error=%s", check, first_line)
    kind = type(error.__cause__ if isinstance(error, BrokerUnavailable) and error.__cause__ else error)
    return CheckResult(ok=False, details=details, error=f"unavailable ({kind.__name__})")


def check_database(now: datetime) -> CheckResult:
    """The default database answers a query."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return _failure("database", error)
    return CheckResult(ok=True, details={"vendor": connections[DEFAULT_DB_ALIAS].vendor})


@functools.cache
def _known_migrations() -> frozenset[tuple[str, str]]:
    # Read from disk once per process: the code (and so its migrations) does not change under it.
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def check_migrations(now: datetime) -> CheckResult:
    """Every migration this code knows is applied (an older schema means ``migrate`` has not run yet)."""
    try:
        applied = set(MigrationRecorder(connections[DEFAULT_DB_ALIAS]).applied_migrations())
    except DatabaseError as error:
        return _failure("migrations", error)
    unapplied = sorted(_known_migrations() - applied)
    if unapplied:
        names = [f"{app}.{name}" for app, name in unapplied[:5]]
        return CheckResult(
            ok=False, details={"unapplied": len(unapplied)}, error=f"not migrated: {', '.join(names)}"
        )
    return CheckResult(ok=True, details={"unapplied": 0})


def broker_kind() -> str:
    return "redis" if settings.REDIS_URL else "orm"


def known_queues(now: datetime) -> list[str]:
    """The default queue, every registered job's queue and every queue a live qcluster consumes."""
    declared = {definition.queue for definition in registered_jobs()}
    return sorted({DEFAULT_QUEUE} | declared | EngineProcess.objects.consumed_queues(now))


def queue_depths(now: datetime) -> dict[str, int]:
    """Tasks waiting in the broker, per queue (``known_queues``). Raises the broker's error."""
    return {queue: int(queue_size(queue) or 0) for queue in known_queues(now)}


def check_broker(now: datetime) -> CheckResult:
    """The broker answers, and how many tasks wait in it per queue.

    On the ORM broker the broker is the database (see the database check); Redis is pinged with a short
    timeout first, so a dead Redis answers in two seconds at most.
    """
    kind = broker_kind()
    try:
        if kind == "redis":
            ping_redis(settings.REDIS_URL, timeout=BROKER_TIMEOUT_SECONDS)
        depths = queue_depths(now)
    except (BrokerUnavailable, DatabaseError) as error:
        return _failure("broker", error, broker=kind)
    return CheckResult(ok=True, details={"broker": kind, "depth": depths})


def check_queue(now: datetime) -> CheckResult:
    """Runs handed to the broker and not yet started: how many, and how long the oldest has been due.

    Reported, not judged: a backlog is no reason to take a web server out of service (alert on the
    ``scheduler_oldest_queued_run_age_seconds`` metric instead). Two reads of the waiting-runs index.
    """
    try:
        queued = JobRun.objects.filter(status=JobRun.Status.QUEUED)
        oldest_due = queued.order_by("due_at").values_list("due_at", flat=True).first()
        count = queued.count()
    except DatabaseError as error:
        return _failure("queue", error)
    age = None if oldest_due is None else round(max((now - oldest_due).total_seconds(), 0.0), 3)
    return CheckResult(ok=True, details={"queued_runs": count, "oldest_queued_seconds": age})


def check_dispatchers(now: datetime) -> CheckResult:
    """At least one dispatcher (inside a qcluster, or ``jobs dispatch``) beat within its silence limit
    (1.5 heartbeat periods): without one, nothing is dispatched. One read of the live processes' index."""
    try:
        beats = list(
            EngineProcess.objects.alive(now)
            .filter(runs_dispatcher=True)
            .values_list("last_beat_at", flat=True)
        )
    except DatabaseError as error:
        return _failure("dispatchers", error)
    limit = EngineProcess.silence_limit().total_seconds()
    if not beats:
        return CheckResult(ok=False, details={"alive": 0}, error=f"no dispatcher beat within {limit:g} s")
    newest = round(max((now - max(beats)).total_seconds(), 0.0), 3)
    return CheckResult(ok=True, details={"alive": len(beats), "last_beat_seconds": newest})


READINESS_CHECKS: list[HealthCheck] = [
    HealthCheck("database", check_database),
    HealthCheck("migrations", check_migrations, needs=("database",)),
    HealthCheck("broker", check_broker),
    HealthCheck("queue", check_queue, needs=("database", "migrations")),
    HealthCheck("dispatchers", check_dispatchers, needs=("database", "migrations")),
]


def readiness(*, now: datetime, checks: Sequence[HealthCheck] | None = None) -> HealthReport:
    """Run ``checks`` (default ``READINESS_CHECKS``) in order; a check whose needs failed is not run."""
    results: dict[str, CheckResult] = {}
    for check in READINESS_CHECKS if checks is None else checks:
        blocked = [name for name in check.needs if name in results and not results[name].ok]
        if blocked:
            results[check.name] = CheckResult(ok=False, error=f"not checked: {', '.join(blocked)} failing")
            continue
        results[check.name] = check.run(now)
    return HealthReport(results)
