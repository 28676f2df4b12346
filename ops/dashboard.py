"""What the operations dashboard shows, as plain functions of ``now`` and the owners in scope.

Every function asks a fixed number of bounded queries, whatever the number of schedules, runs, owners or
backups: a page of schedules and one aggregate over their runs, the schedules failing now (with when their
failures began), the engine processes, and one annotated query for the backups. The next 24 hours are
``ops.upcoming``'s, the counts and large charts ``ops.activity``'s. ``owner_ids`` is the viewer's scope
from ``tenants.scoping.visible_owner_ids`` (``None``: every owner).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.db.models import Avg, Case, Count, DateTimeField, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncDate

from backups.models import Backup
from jobs import djangoq
from jobs.health import queue_depths
from jobs.models import EngineProcess, JobRun, Schedule
from ops.svg import DayRuns
from tenants.models import Owner

HISTORY_DAYS = 30
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # "no success ever": every failure counts
SCHEDULES_PER_PAGE = 25
FAILED = (JobRun.Status.FAILED, JobRun.Status.TIMED_OUT, JobRun.Status.LOST)
# Outcomes that count for the success rate; skipped and cancelled runs say nothing about the job's health.
DECIDED = (JobRun.Status.SUCCEEDED, *FAILED)


def scoped(queryset: QuerySet, owner_ids: set[int] | None, lookup: str = "owner_id") -> QuerySet:
    """``queryset`` restricted to the viewer's owners (``None``: every owner)."""
    return queryset if owner_ids is None else queryset.filter(**{f"{lookup}__in": owner_ids})


# --- Per schedule: last run, success rate and duration over 7 and 30 days -------------------------------


@dataclass(frozen=True)
class ScheduleHealth:
    schedule: Schedule
    days: list[DayRuns]  # HISTORY_DAYS days of the viewer's zone, oldest first, today last

    def success_rate(self, last_days: int) -> float | None:
        """Share of succeeded among succeeded and failed runs in the last days (None: no such run)."""
        window = self.days[-last_days:]
        decided = sum(day.succeeded + day.failed for day in window)
        return None if decided == 0 else sum(day.succeeded for day in window) / decided

    def average_duration(self, last_days: int) -> timedelta | None:
        weighted = [
            (day.average_duration, day.succeeded + day.failed)
            for day in self.days[-last_days:]
            if day.average_duration is not None and day.succeeded + day.failed
        ]
        runs = sum(count for _, count in weighted)
        if not runs:
            return None
        return sum((duration * count for duration, count in weighted), timedelta()) / runs


@dataclass(frozen=True)
class HealthPage:
    rows: list[ScheduleHealth]
    page: int
    has_next: bool


def schedule_health(
    now: datetime,
    owner_ids: set[int] | None,
    *,
    zone: tzinfo,
    page: int = 1,
    per_page: int = SCHEDULES_PER_PAGE,
) -> HealthPage:
    """One page of schedules (by owner, job and key) with their runs per day (of ``zone``) over the last
    30 days.

    Two queries: the page of schedules (one extra row tells whether a next page exists, so nothing is
    counted), and one aggregate over the page's runs that uses the (schedule, slot) index.
    """
    page = max(1, page)
    first = (page - 1) * per_page
    # The latest run of any kind (scheduled, manual, retry), read on the (schedule, slot) index.
    latest = JobRun.objects.filter(schedule=OuterRef("pk")).order_by("-slot", "-id")
    schedules = list(
        scoped(Schedule.objects.select_related("owner"), owner_ids)
        .annotate(
            latest_run_id=Subquery(latest.values("id")[:1]),
            latest_run_slot=Subquery(latest.values("slot")[:1]),
            latest_run_status=Subquery(latest.values("status")[:1]),
        )
        .order_by("owner_id", "job_name", "key")[first : first + per_page + 1]
    )
    has_next = len(schedules) > per_page
    schedules = schedules[:per_page]
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=HISTORY_DAYS - 1)
    per_day = (
        JobRun.objects.filter(
            schedule_id__in=[schedule.pk for schedule in schedules],
            slot__gte=datetime.combine(first_day, datetime.min.time(), tzinfo=zone),
            slot__lte=now,
        )
        .annotate(day=TruncDate("slot", tzinfo=zone))
        .values("schedule_id", "day")
        .annotate(
            succeeded=Count("id", filter=Q(status=JobRun.Status.SUCCEEDED)),
            failed=Count("id", filter=Q(status__in=FAILED)),
            total=Count("id"),
            average_duration=Avg("duration", filter=Q(status__in=DECIDED)),
        )
        .order_by()
    )
    by_key: dict[tuple[int, date], DayRuns] = {}
    for row in per_day:
        by_key[(row["schedule_id"], row["day"])] = DayRuns(
            day=row["day"],
            succeeded=row["succeeded"],
            failed=row["failed"],
            other=row["total"] - row["succeeded"] - row["failed"],
            average_duration=row["average_duration"],
        )
    days = [first_day + timedelta(days=offset) for offset in range(HISTORY_DAYS)]
    rows = [
        ScheduleHealth(
            schedule=schedule,
            days=[by_key.get((schedule.pk, day)) or DayRuns(day=day) for day in days],
        )
        for schedule in schedules
    ]
    return HealthPage(rows=rows, page=page, has_next=has_next)


# --- Failing now ----------------------------------------------------------------------------------------


def failing_schedules(owner_ids: set[int] | None, *, limit: int = 50) -> list[Schedule]:
    """Schedules whose latest run failed, timed out or was lost (those paused on failure among them),
    most recent first, each with ``failing_since``: when the first failed run after its last success
    ended (its slot, for a run that never finished). Two lookups per schedule on the (schedule, slot) index.
    """
    last_success = (
        JobRun.objects.filter(schedule=OuterRef("pk"), status=JobRun.Status.SUCCEEDED)
        .order_by("-slot")
        .values("slot")[:1]
    )
    since_then = Coalesce(Subquery(last_success), Value(EARLIEST, DateTimeField()))
    first_failure = JobRun.objects.filter(
        schedule=OuterRef("pk"), status__in=FAILED, slot__gt=OuterRef("last_success_slot")
    ).order_by("slot")
    return list(
        scoped(Schedule.objects.filter(last_status__in=FAILED), owner_ids)
        .select_related("owner")
        .annotate(last_success_slot=since_then)
        .annotate(
            failing_since=Coalesce(
                Subquery(first_failure.values("finished_at")[:1]), Subquery(first_failure.values("slot")[:1])
            )
        )
        .order_by(F("last_run_at").desc(nulls_last=True), "pk")[:limit]
    )


def failing_problem(schedule: Schedule) -> str:
    """What a failing schedule's row says: why the engine paused it, else how its last run ended."""
    if schedule.paused_reason:
        return f"paused: {schedule.paused_reason}"
    return f"last run {schedule.last_status}"


# --- Workers and dispatchers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerState:
    clusters: list[djangoq.ClusterState]
    queue_depths: dict[str, int]  # tasks waiting in the broker, per queue
    broker: str
    error: str = ""  # the broker could not be asked (Redis down)


@dataclass(frozen=True)
class EngineProcessState:
    process: EngineProcess
    state: str  # "alive", "silent" (no beat within the silence limit), "stopped"


def engine_processes(
    now: datetime, *, within: timedelta = timedelta(hours=1), limit: int = 20
) -> list[EngineProcessState]:
    """The qclusters and standalone dispatchers that beat within ``within``, latest beat first: the ones
    alive, and the ones that stopped or went silent lately (a dead machine shows here before its runs are
    lost)."""
    processes = EngineProcess.objects.filter(last_beat_at__gte=now - within).order_by("-last_beat_at")[:limit]
    return [
        EngineProcessState(
            process=process,
            state="stopped" if process.stopped_at else ("alive" if process.is_alive(now) else "silent"),
        )
        for process in processes
    ]


def worker_state(now: datetime) -> WorkerState:
    """Each qcluster's published state (alive, workers) and the tasks waiting in the broker, per queue."""
    broker = type(djangoq.broker()).__name__
    try:
        clusters = djangoq.cluster_states()
        depths = queue_depths(now)
    except djangoq.BrokerUnavailable as error:
        return WorkerState(clusters=[], queue_depths={}, broker=broker, error=str(error))
    return WorkerState(clusters=clusters, queue_depths=depths, broker=broker)


# --- Backups -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerBackups:
    owner: Owner
    last_good_at: datetime | None
    last_good_size: int | None
    last_status: str | None
    last_started_at: datetime | None

    def age(self, now: datetime) -> timedelta | None:
        return None if self.last_good_at is None else now - self.last_good_at

    @property
    def problem(self) -> str:
        """Why this owner needs attention ("" when it does not)."""
        if self.last_status == Backup.Status.FAILED:
            return "last backup failed"
        if self.last_good_at is None:
            return "no good backup"
        return ""


def backup_overview(owner_ids: set[int] | None, *, limit: int = 200) -> tuple[list[OwnerBackups], bool]:
    """Per active owner: the last good (verified) backup, its size, and the latest backup's status.

    One query: correlated subqueries walk each owner's backups newest first on the (owner, started_at)
    index. Owners with a problem come first, then the oldest good backups. Returns the rows and whether
    more owners exist than shown.
    """
    newest = Backup.objects.filter(owner=OuterRef("pk")).order_by("-started_at")
    good = newest.filter(status=Backup.Status.VERIFIED)
    owners = list(
        scoped(Owner.objects.filter(is_active=True), owner_ids, lookup="pk")
        .annotate(
            last_good_at=Subquery(good.values("started_at")[:1]),
            last_good_size=Subquery(good.values("size")[:1]),
            last_status=Subquery(newest.values("status")[:1]),
            last_started_at=Subquery(newest.values("started_at")[:1]),
        )
        .annotate(
            needs_attention=Case(
                When(Q(last_status=Backup.Status.FAILED) | Q(last_good_at__isnull=True), then=Value(0)),
                default=Value(1),
            )
        )
        .order_by("needs_attention", F("last_good_at").asc(nulls_first=True), "id")[: limit + 1]
    )
    rows = [
        OwnerBackups(
            owner=owner,
            last_good_at=owner.last_good_at,
            last_good_size=owner.last_good_size,
            last_status=owner.last_status,
            last_started_at=owner.last_started_at,
        )
        for owner in owners[:limit]
    ]
    return rows, len(owners) > limit
