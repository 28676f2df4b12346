"""Run counters and histograms kept up to date from the run events the database triggers append.

Counting runs by scanning the runs table at each scrape would grow with the history (and shrink when the
history is pruned, which a Prometheus counter must never do). Instead, ``roll_up_run_events`` folds the
events appended since the last fold into cumulative totals (``RunCount``, ``RunHistogram``) and deletes
them, in one transaction: at most ``ROLLUP_BATCH`` events per call, so its cost is bounded by the recent
traffic, never by the history. Every scrape of /metrics folds first, and the ``ops.roll_up_run_metrics``
job folds every minute, so the events table stays small even when nobody scrapes.

Folds are serialised (an advisory lock on PostgreSQL; SQLite's IMMEDIATE transactions already are), and
events are taken with ``DELETE … RETURNING``: exactly the rows one statement saw are counted and removed,
so an event committed meanwhile is left for the next fold, never counted twice or lost.
"""

from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from ops.models import OwnerTier, RunCount, RunEvent, RunHistogram

ROLLUP_BATCH = 50_000
ROLLUP_LOCK_KEY = 0x6F70735F6D6574  # "ops_met": one application-wide advisory lock on PostgreSQL

# Upper bounds in seconds; a last bucket (+Inf) counts everything above. Lateness is mostly sub-second.
LATENESS_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
DURATION_BOUNDS = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)
BOUNDS = {RunHistogram.Metric.LATENESS: LATENESS_BOUNDS, RunHistogram.Metric.DURATION: DURATION_BOUNDS}

SeriesKey = tuple[str, str, str]  # job name, owner tier, status or metric


@dataclass
class _Observations:
    buckets: list[int]
    count: int = 0
    total_seconds: float = 0.0

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> "_Observations":
        return cls(buckets=[0] * (len(bounds) + 1))

    def add(self, seconds: float, bounds: tuple[float, ...]) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le, "less or equal").
        self.buckets[bisect_left(bounds, seconds)] += 1
        self.count += 1
        self.total_seconds += seconds


def roll_up_run_events(*, batch_size: int = ROLLUP_BATCH, using: str = DEFAULT_DB_ALIAS) -> int:
    """Fold up to ``batch_size`` pending run events into the totals; returns how many were folded."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK_KEY])
        events = _take_events(batch_size, using)
        if not events:
            return 0
        counts: Counter[SeriesKey] = Counter()
        observed: dict[SeriesKey, _Observations] = {}
        for kind, job_name, owner_id, status, seconds in events:
            tier = OwnerTier.of(owner_id).value
            if kind == RunEvent.Kind.FINISHED:
                counts[(job_name, tier, status)] += 1
                metric = RunHistogram.Metric.DURATION
            else:
                metric = RunHistogram.Metric.LATENESS
            if seconds is None:
                continue
            key = (job_name, tier, metric.value)
            bounds = BOUNDS[metric]
            observed.setdefault(key, _Observations.empty(bounds)).add(max(float(seconds), 0.0), bounds)
        _add_counts(counts, using)
        _add_observations(observed, using)
    return len(events)


def _take_events(batch_size: int, using: str) -> list[tuple]:
    table = connections[using].ops.quote_name(RunEvent._meta.db_table)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s) "  # noqa: S608 - the table name comes from model metadata
            "RETURNING kind, job_name, owner_id, status, seconds",
            [batch_size],
        )
        return cursor.fetchall()


def _add_counts(counts: Counter[SeriesKey], using: str) -> None:
    # Only folds write these rows and folds are serialised: read, add, write back is safe.
    totals = defaultdict(int)
    for row in RunCount.objects.using(using).all():
        totals[(row.job_name, row.owner_tier, row.status)] = row.runs
    rows = [
        RunCount(
            job_name=job_name, owner_tier=tier, status=status, runs=totals[(job_name, tier, status)] + added
        )
        for (job_name, tier, status), added in counts.items()
    ]
    RunCount.objects.using(using).bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job_name", "owner_tier", "status"],
        update_fields=["runs"],
    )


def _add_observations(observed: dict[SeriesKey, _Observations], using: str) -> None:
    if not observed:
        return
    existing = {
        (row.job_name, row.owner_tier, row.metric): row for row in RunHistogram.objects.using(using).all()
    }
    rows = []
    for (job_name, tier, metric), new in observed.items():
        bounds = list(BOUNDS[metric])
        old = existing.get((job_name, tier, metric))
        if old is None or old.bounds != bounds:
            # A new series, or the code's buckets changed: a fresh histogram (Prometheus sees a reset).
            old = RunHistogram(buckets=[0] * (len(bounds) + 1), count=0, total_seconds=0.0)
        rows.append(
            RunHistogram(
                job_name=job_name,
                owner_tier=tier,
                metric=metric,
                bounds=bounds,
                buckets=[before + added for before, added in zip(old.buckets, new.buckets, strict=True)],
                count=old.count + new.count,
                total_seconds=old.total_seconds + new.total_seconds,
            )
        )
    RunHistogram.objects.using(using).bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job_name", "owner_tier", "metric"],
        update_fields=["bounds", "buckets", "count", "total_seconds"],
    )
