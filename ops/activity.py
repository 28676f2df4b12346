"""How many runs there are, now and lately, for the dashboard's live counts and its two large charts.

Each answer is one aggregate over a bounded window of the runs table, read on an index: runs in flight on
the partial index of active runs, runs per minute of the last hour and per day of the last 30 days on the
slot index (the owner's index for a member). Runs are counted by their slot (the fire time they stand
for), so a run is counted when it falls due, whatever its status is now; the cost follows the number of
runs in the window, never the history. ``owner_ids`` is the viewer's scope (``None``: every owner).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.db.models import Count, QuerySet
from django.db.models.functions import Trunc, TruncDate

from jobs.models import JobRun
from ops.svg import DayRuns, MinuteRuns

FAILED = (JobRun.Status.FAILED, JobRun.Status.TIMED_OUT, JobRun.Status.LOST)
LAST_HOUR = timedelta(hours=1)
CHART_DAYS = 30


def scoped_runs(owner_ids: set[int] | None) -> QuerySet:
    runs = JobRun.objects.all()
    return runs if owner_ids is None else runs.filter(owner_id__in=owner_ids)


@dataclass(frozen=True)
class LiveCounts:
    """What the dashboard's counters say, refreshed every few seconds."""

    running: int
    queued: int
    waiting: int  # scheduled: retries with backoff, runs queued behind another
    succeeded_last_hour: int
    failed_last_hour: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def runs_per_minute(now: datetime, owner_ids: set[int] | None, zone: tzinfo) -> list[MinuteRuns]:
    """The last 60 minutes, oldest first: runs whose slot fell in each minute, by outcome (one query)."""
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
    rows = (
        scoped_runs(owner_ids)
        .filter(slot__gte=first, slot__lte=now)
        .annotate(minute=Trunc("slot", "minute", tzinfo=UTC))
        .values("minute", "status")
        .annotate(runs=Count("id"))
        .order_by()
    )
    counts: dict[datetime, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["minute"].astimezone(UTC), {})[row["status"]] = row["runs"]
    minutes = [first + timedelta(minutes=offset) for offset in range(60)]
    return [_minute(moment, counts.get(moment, {}), zone) for moment in minutes]


def _minute(moment: datetime, by_status: dict[str, int], zone: tzinfo) -> MinuteRuns:
    succeeded = by_status.get(JobRun.Status.SUCCEEDED, 0)
    failed = sum(by_status.get(status, 0) for status in FAILED)
    return MinuteRuns(
        label=f"{moment.astimezone(zone):%H:%M}",
        succeeded=succeeded,
        failed=failed,
        other=sum(by_status.values()) - succeeded - failed,
    )


def runs_per_day(now: datetime, owner_ids: set[int] | None, zone: tzinfo) -> list[DayRuns]:
    """The last 30 days of ``zone``, oldest first, today last: runs per day by outcome (one query)."""
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=CHART_DAYS - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    rows = (
        scoped_runs(owner_ids)
        .filter(slot__gte=start, slot__lte=now)
        .annotate(day=TruncDate("slot", tzinfo=zone))
        .values("day", "status")
        .annotate(runs=Count("id"))
        .order_by()
    )
    counts: dict = {}
    for row in rows:
        counts.setdefault(row["day"], {})[row["status"]] = row["runs"]
    days = [first_day + timedelta(days=offset) for offset in range(CHART_DAYS)]
    result = []
    for day in days:
        by_status = counts.get(day, {})
        succeeded = by_status.get(JobRun.Status.SUCCEEDED, 0)
        failed = sum(by_status.get(status, 0) for status in FAILED)
        result.append(
            DayRuns(
                day=day,
                succeeded=succeeded,
                failed=failed,
                other=sum(by_status.values()) - succeeded - failed,
            )
        )
    return result


def live_counts(owner_ids: set[int] | None, last_hour: list[MinuteRuns]) -> LiveCounts:
    """Runs in flight now (one query on the active runs' index) and the outcomes of ``last_hour``."""
    in_flight = dict(
        scoped_runs(owner_ids)
        .filter(status__in=[JobRun.Status.SCHEDULED, JobRun.Status.QUEUED, JobRun.Status.RUNNING])
        .values_list("status")
        .annotate(runs=Count("id"))
        .order_by()
    )
    return LiveCounts(
        running=in_flight.get(JobRun.Status.RUNNING, 0),
        queued=in_flight.get(JobRun.Status.QUEUED, 0),
        waiting=in_flight.get(JobRun.Status.SCHEDULED, 0),
        succeeded_last_hour=sum(minute.succeeded for minute in last_hour),
        failed_last_hour=sum(minute.failed for minute in last_hour),
    )
