"""What /metrics exposes, read from the database at scrape time (so any web process serves the same).

One scrape asks a fixed number of indexed queries, whatever the history holds:
- fold the pending run events into the totals (``ops.run_metrics``: lock, one ``DELETE … RETURNING`` of at
  most ``ROLLUP_BATCH`` events, read and upsert the two small total tables);
- the run counters and the lateness and duration histograms (the two total tables: one row per job,
  owner tier and status or metric);
- runs scheduled, queued or running now (the partial index of active runs);
- the oldest queued run and the number queued (the waiting-runs index);
- the broker's queue depth per queue (a Redis PING and an LLEN per queue, or one count per queue on the ORM
  broker's table; the queues are the default one, the registered jobs' and those live qclusters consume);
- the live engine processes (one read of their partial index): dispatchers, and qclusters per queue;
- per active owner, its last good backup (one query, correlated subqueries on the (owner, started)
  index).

Labels stay bounded: ``job`` is a registered job name, ``owner_tier`` is ``global`` or ``tenant``,
``status`` a run status. Only the backup metrics carry ``owner`` (the owner's slug), one series per owner,
as each owner's backups are what an operator watches.
"""

import math
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Case, Count, OuterRef, Subquery, Value, When
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from backups.models import Backup
from jobs.health import check_broker, check_queue
from jobs.models import EngineProcess, JobRun
from ops.models import OwnerTier, RunCount, RunHistogram
from ops.run_metrics import roll_up_run_events
from tenants.models import GLOBAL_OWNER_ID, Owner

PREFIX = "scheduler"
ACTIVE = (JobRun.Status.SCHEDULED, JobRun.Status.QUEUED, JobRun.Status.RUNNING)


class SchedulerCollector(Collector):
    """A prometheus_client collector over the scheduler's tables, as of ``now``."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        roll_up_run_events()
        yield run_counter()
        yield from run_histograms()
        yield active_runs()
        yield from queue_metrics(self.now)
        yield from engine_metrics(self.now)
        yield from backup_metrics(self.now)


def run_counter() -> Metric:
    family = CounterMetricFamily(
        f"{PREFIX}_job_runs",
        "Runs that ended, by job, owner tier and final status (counted since metrics were installed).",
        labels=["job", "owner_tier", "status"],
    )
    for row in RunCount.objects.order_by("job_name", "owner_tier", "status"):
        family.add_metric([row.job_name, row.owner_tier, row.status], row.runs)
    return family


def run_histograms() -> Iterator[Metric]:
    families = {
        RunHistogram.Metric.LATENESS: HistogramMetricFamily(
            f"{PREFIX}_job_run_lateness_seconds",
            "Seconds from a run's due time (its slot, or a retry's due time) to its start.",
            labels=["job", "owner_tier"],
        ),
        RunHistogram.Metric.DURATION: HistogramMetricFamily(
            f"{PREFIX}_job_run_duration_seconds",
            "Seconds from a run's start to its end, for runs that ran.",
            labels=["job", "owner_tier"],
        ),
    }
    for row in RunHistogram.objects.order_by("job_name", "owner_tier", "metric"):
        cumulative, buckets = 0, []
        for bound, count in zip([*row.bounds, math.inf], row.buckets, strict=True):
            cumulative += count
            buckets.append((_bound(bound), cumulative))
        families[row.metric].add_metric([row.job_name, row.owner_tier], buckets, sum_value=row.total_seconds)
    yield from families.values()


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def active_runs() -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_job_runs_active",
        "Runs waiting for their due time (scheduled), handed to the broker (queued) or running now.",
        labels=["job", "owner_tier", "status"],
    )
    rows = (
        JobRun.objects.filter(status__in=ACTIVE)
        .annotate(
            tier=Case(
                When(owner_id=GLOBAL_OWNER_ID, then=Value(OwnerTier.GLOBAL.value)),
                default=Value(OwnerTier.TENANT.value),
            )
        )
        .values("job_name", "tier", "status")
        .annotate(runs=Count("id"))
        .order_by("job_name", "tier", "status")
    )
    for row in rows:
        family.add_metric([row["job_name"], row["tier"], row["status"]], row["runs"])
    return family


def queue_metrics(now: datetime) -> Iterator[Metric]:
    queue = check_queue(now)
    oldest = GaugeMetricFamily(
        f"{PREFIX}_oldest_queued_run_age_seconds",
        "How long the oldest queued run has been due (0 when none is queued).",
    )
    oldest.add_metric([], queue.details.get("oldest_queued_seconds") or 0.0)
    yield oldest
    broker_up = GaugeMetricFamily(f"{PREFIX}_broker_up", "1 when the broker answered this scrape, else 0.")
    depth = GaugeMetricFamily(
        f"{PREFIX}_queue_depth", "Tasks waiting in the broker, per queue.", labels=["queue"]
    )
    broker = check_broker(now)
    broker_up.add_metric([], 1 if broker.ok else 0)
    for name, size in broker.details.get("depth", {}).items():
        depth.add_metric([name], size)
    yield broker_up
    yield depth


def engine_metrics(now: datetime) -> Iterator[Metric]:
    dispatchers = GaugeMetricFamily(
        f"{PREFIX}_dispatchers_alive", "Dispatchers (in a qcluster or `jobs dispatch`) beating now."
    )
    clusters = GaugeMetricFamily(
        f"{PREFIX}_clusters_alive", "qclusters beating now, by the queue they consume.", labels=["queue"]
    )
    workers = GaugeMetricFamily(
        f"{PREFIX}_cluster_workers", "django-q2 workers of the live qclusters, by queue.", labels=["queue"]
    )
    per_queue: dict[str, list[int]] = {}
    alive = EngineProcess.objects.alive(now).values_list("runs_dispatcher", "workers", "queues")
    dispatching = 0
    for runs_dispatcher, worker_count, queues in alive:
        dispatching += runs_dispatcher
        for queue in queues if worker_count else ():
            per_queue.setdefault(queue, []).append(worker_count)
    dispatchers.add_metric([], dispatching)
    for queue, counts in sorted(per_queue.items()):
        clusters.add_metric([queue], len(counts))
        workers.add_metric([queue], sum(counts))
    yield dispatchers
    yield clusters
    yield workers


def backup_metrics(now: datetime) -> Iterator[Metric]:
    age = GaugeMetricFamily(
        f"{PREFIX}_backup_last_good_age_seconds",
        "Seconds since each active owner's last good (verified) backup started; +Inf when it has none.",
        labels=["owner"],
    )
    size = GaugeMetricFamily(
        f"{PREFIX}_backup_last_good_size_bytes", "Stored size of the last good backup.", labels=["owner"]
    )
    duration = GaugeMetricFamily(
        f"{PREFIX}_backup_last_good_duration_seconds",
        "How long the last good backup took to write.",
        labels=["owner"],
    )
    good = Backup.objects.filter(owner=OuterRef("pk"), status=Backup.Status.VERIFIED).order_by("-started_at")
    owners = (
        Owner.objects.filter(is_active=True)
        .annotate(
            good_started_at=Subquery(good.values("started_at")[:1]),
            good_size=Subquery(good.values("size")[:1]),
            good_duration=Subquery(good.values("duration")[:1]),
        )
        .order_by("pk")
        .values_list("slug", "good_started_at", "good_size", "good_duration")
    )
    for slug, started_at, stored_bytes, took in owners:
        if started_at is None:
            age.add_metric([slug], math.inf)
            continue
        age.add_metric([slug], max((now - started_at).total_seconds(), 0.0))
        if stored_bytes is not None:
            size.add_metric([slug], stored_bytes)
        if took is not None:
            duration.add_metric([slug], took.total_seconds())
    yield age
    yield size
    yield duration
