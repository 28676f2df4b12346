from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs import limits
from jobs.conditional_updates import update_if, update_returning
from jobs.policies import MisfirePolicy, OverlapPolicy
from jobs.queues import DEFAULT_QUEUE
from jobs.registry import GlobalJobError, check_owner_may_run, job_queue
from jobs.triggers import InvalidTrigger, next_fire_after, validate_trigger, validate_window
from jobs.wakeup import wake_dispatchers
from tenants.models import GLOBAL_OWNER_ID, Owner
from tenants.timezones import validate_timezone


class TriggerKind(models.TextChoices):
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Fixed interval"
    ONCE = "once", "Once, at a time"


class Schedule(models.Model):
    """A job, an owner and arguments, with the trigger that says when, and the policies that say how."""

    job_name = models.CharField(max_length=200, db_index=True)
    owner = models.ForeignKey(
        Owner, on_delete=models.CASCADE, related_name="schedules", default=GLOBAL_OWNER_ID
    )
    # Several schedules may run one job for one owner; the key tells them apart ("default", "nightly").
    key = models.SlugField(max_length=100, default="default")
    label = models.CharField(max_length=200, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)

    trigger_kind = models.CharField(max_length=10, choices=TriggerKind.choices, default=TriggerKind.CRON)
    cron_expression = models.CharField(
        max_length=200,
        blank=True,
        help_text="5 fields (minute first) or 6 fields (seconds first), or @daily.",
    )
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    interval_anchor = models.DateTimeField(
        null=True, blank=True, help_text="Interval slots are counted from here (default: creation time)."
    )
    run_at = models.DateTimeField(null=True, blank=True, help_text="For one-off schedules.")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # The window narrows the trigger (jobs.triggers): no slot outside [starts_at, ends_at], none on an
    # excluded date.
    starts_at = models.DateTimeField(null=True, blank=True, help_text="No slots before this time.")
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="No slots after this time: the schedule ends then."
    )
    excluded_dates = models.JSONField(
        default=list,
        blank=True,
        help_text="Dates without slots (in the schedule's time zone), e.g. public holidays.",
    )
    jitter_seconds = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Start each slot's run up to this many seconds late, at random (the run keeps its slot); "
        "spreads schedules that share a time. 0: on time.",
    )

    enabled = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Why the engine paused it (pause on failure); empty when a person paused it or it is not paused.
    paused_reason = models.CharField(max_length=500, blank=True, editable=False)

    overlap_policy = models.CharField(
        max_length=20, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    overlap_retry_delay_seconds = models.PositiveIntegerField(default=3600)
    misfire_policy = models.CharField(
        max_length=20, choices=MisfirePolicy.choices, default=MisfirePolicy.RUN_ONCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(default=300)
    catch_up_limit = models.PositiveIntegerField(default=10)
    max_attempts = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1, "At least 1: the first attempt counts (1 means no retries).")],
        help_text="Attempts per slot, the first one included (1: no retries).",
    )
    retry_backoff_seconds = models.PositiveIntegerField(default=30)
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the longest allowed (JOBS_MAX_TIMEOUT minus 30 s)."
    )
    pause_after_failures = models.PositiveSmallIntegerField(
        default=0,
        help_text="Pause the schedule after this many failed runs in a row (retries used up); 0: never.",
    )
    # Failed runs in a row (each with no retry left); a success resets it, skipped and cancelled runs do not.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    startup_delay_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="With run on start: the first run comes this long after start-up."
    )
    run_on_start = models.BooleanField(default=False)
    # A start-up run is requested once per fleet start: the first dispatcher to start stamps this with a
    # conditional UPDATE and inserts the run; dispatchers starting with it see a recent stamp and leave it.
    startup_requested_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Set when code (not a person) keeps this row in sync, e.g. "backups" for schedules derived from settings.
    managed_by = models.CharField(max_length=50, blank=True)

    # Denormalised for the dispatcher (next due slot, UTC) and the admin list (last outcome).
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=20, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job_name", "owner", "key"], name="schedule_unique_job_owner_key"
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="schedule_window_ends_after_start",
            ),
        ]
        indexes = [
            # The dispatcher's only question: which active schedules are due first.
            models.Index(
                fields=["next_run_at"],
                name="schedule_due_idx",
                condition=Q(enabled=True, paused_at__isnull=True, next_run_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"{self.job_name} [{self.key}] for owner {self.owner_id}"

    def save(self, *args, now: datetime | None = None, **kwargs) -> None:
        """Save; a new or re-timed schedule gets its next slot after now and wakes the dispatchers.

        A saved schedule is live at once (no restart): ``next_run_at`` is recomputed (as of ``now``, default
        the current time) whenever the trigger, the timezone, ``enabled`` or ``paused_at`` changed, and
        dispatchers are woken after commit.
        """
        update_fields = kwargs.get("update_fields")
        saved_timing = getattr(self, "_saved_timing", None)
        retimed = saved_timing != self._timing() or (self.is_active and self.next_run_at is None)
        if retimed and update_fields is None:
            self.refresh_next_run_at(now or timezone.now())
        super().save(*args, **kwargs)
        self._saved_timing = self._timing()
        if retimed:
            transaction.on_commit(wake_dispatchers, using=kwargs.get("using") or "default")

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the row said when loaded: save() compares against it to see whether the timing changed.
        if not instance.get_deferred_fields() & set(TIMING_FIELDS):
            instance._saved_timing = instance._timing()
        return instance

    def clean(self) -> None:
        """Refuse a trigger that cannot fire as meant, a job a tenant may not run, and what breaks the limits
        of ``jobs.limits``."""
        errors: dict[str, str] = {}
        for validate in (self._validate_trigger, self._validate_window):
            try:
                validate()
            except InvalidTrigger as invalid:
                errors.update(invalid.errors)
        if errors:
            raise ValidationError(errors)
        if self.jitter_seconds > MAX_JITTER_SECONDS:
            raise ValidationError({"jitter_seconds": f"At most {MAX_JITTER_SECONDS} s (one day)."})
        interval = self.interval_seconds if self.trigger_kind == TriggerKind.INTERVAL else None
        if interval and self.jitter_seconds >= interval:
            raise ValidationError(
                {"jitter_seconds": "Keep the jitter below the interval: a run would pass the next."}
            )
        try:
            check_owner_may_run(self.job_name, self.owner_id)
        except GlobalJobError as refused:
            raise ValidationError({"owner": str(refused)}) from None
        retimed = getattr(self, "_saved_timing", None) != self._timing()
        errors = limits.schedule_errors(self, now=timezone.now(), retimed=retimed)
        if errors:
            raise ValidationError(errors)

    @property
    def is_active(self) -> bool:
        return self.enabled and self.paused_at is None

    def has_ended(self, now: datetime) -> bool:
        """Past its window's end: it makes no more slots (its last ones may still be running)."""
        return self.ends_at is not None and self.ends_at < now

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def refresh_next_run_at(self, now: datetime) -> None:
        """Point ``next_run_at`` at the first slot strictly after ``now`` (None when inactive or done)."""
        if self.trigger_kind == TriggerKind.INTERVAL and self.interval_anchor is None:
            # "Counted from creation time" (whole seconds), made explicit so later edits keep the rhythm.
            self.interval_anchor = (self.created_at or now).replace(microsecond=0)
        self.next_run_at = next_fire_after(self, now) if self.is_active else None

    def record_outcome(self, run: "JobRun", *, final_failure: bool, now: datetime) -> bool:
        """Keep ``last_status`` and the failure streak in step with ``run``, which just ended.

        A failure with no retry left extends the streak, a success ends it, skipped and cancelled runs
        leave it alone. With ``pause_after_failures`` set, the streak reaching it pauses the schedule
        (conditionally, so two finishing runs pause it once) and says why. Returns True if it paused now.
        No statement at all when nothing changes (the common success).
        """
        if final_failure:
            rows = Schedule.objects.filter(pk=self.pk)
            rows.update(last_status=run.status, consecutive_failures=F("consecutive_failures") + 1)
            self.last_status, self.consecutive_failures = run.status, self.consecutive_failures + 1
            if not self.pause_after_failures:
                return False
            reason = (
                f"Paused after {self.pause_after_failures} failed runs in a row; the last, run #{run.pk}, "
                f"{run.status}: {(run.error.splitlines() or ['no error recorded'])[0][:300]}"
            )
            paused = rows.filter(
                paused_at__isnull=True, consecutive_failures__gte=F("pause_after_failures")
            ).update(paused_at=now, paused_reason=reason)
            if paused:
                self.paused_at, self.paused_reason = now, reason
            return bool(paused)
        if run.status == JobRun.Status.SUCCEEDED and self.consecutive_failures:
            Schedule.objects.filter(pk=self.pk).update(last_status=run.status, consecutive_failures=0)
            self.last_status, self.consecutive_failures = run.status, 0
        elif self.last_status != run.status:
            Schedule.objects.filter(pk=self.pk).update(last_status=run.status)
            self.last_status = run.status
        return False

    def _timing(self) -> tuple:
        # Lists (the excluded dates) are copied: an edit in place still counts as a change.
        return tuple(_copied(getattr(self, name)) for name in TIMING_FIELDS)

    def _validate_trigger(self) -> None:
        validate_trigger(
            trigger_kind=self.trigger_kind,
            cron_expression=self.cron_expression,
            interval_seconds=self.interval_seconds,
            interval_anchor=self.interval_anchor,
            run_at=self.run_at,
            timezone=self.timezone,
        )

    def _validate_window(self) -> None:
        validate_window(starts_at=self.starts_at, ends_at=self.ends_at, excluded_dates=self.excluded_dates)


# The fields of a schedule's trigger, and of the policies its runs follow (forms and the admin list them).
TRIGGER_FIELDS = (
    "trigger_kind",
    "cron_expression",
    "interval_seconds",
    "interval_anchor",
    "run_at",
    "timezone",
)
POLICY_FIELDS = (
    "overlap_policy",
    "overlap_retry_delay_seconds",
    "misfire_policy",
    "misfire_grace_seconds",
    "catch_up_limit",
    "max_attempts",
    "retry_backoff_seconds",
    "timeout_seconds",
    "pause_after_failures",
    "run_on_start",
    "startup_delay_seconds",
)
# The window that narrows the trigger; and how late, at most, each slot's run starts.
WINDOW_FIELDS = ("starts_at", "ends_at", "excluded_dates")
JITTER_FIELDS = ("jitter_seconds",)
MAX_JITTER_SECONDS = 86400

# The fields only one trigger kind uses: the schedule form shows those of the chosen kind (jobs.widgets);
# a trigger field listed under no kind (the time zone) belongs to every kind.
TRIGGER_KIND_FIELDS = {
    TriggerKind.CRON: ("cron_expression",),
    TriggerKind.INTERVAL: ("interval_seconds", "interval_anchor"),
    TriggerKind.ONCE: ("run_at",),
}
# The fields that decide when a schedule fires next: changing one recomputes next_run_at.
TIMING_FIELDS = (*TRIGGER_FIELDS, *WINDOW_FIELDS, "enabled", "paused_at")
# What the runner reads of a run's schedule, returned by the queued → running flip with the run: the
# policy (timeout, retries, overlap) and what the outcome updates only when it changes (last status,
# failure streak). Anything else loads on first access.
RUNNER_SCHEDULE_FIELDS = (
    "overlap_policy",
    "overlap_retry_delay_seconds",
    "max_attempts",
    "retry_backoff_seconds",
    "timeout_seconds",
    "pause_after_failures",
    "consecutive_failures",
    "last_status",
    "next_run_at",
)


def _copied(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


class JobSwitch(models.Model):
    """Turns a job off (or on again) as a whole, across every schedule and owner.

    No row means enabled. While a job is off, its schedules keep advancing but create no runs.
    """

    job_name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "job switch"
        verbose_name_plural = "job switches"
        ordering = ["job_name"]

    def __str__(self) -> str:
        return f"{self.job_name}: {'on' if self.enabled else 'off'}"

    @classmethod
    def disabled_job_names(cls) -> set[str]:
        return set(cls.objects.filter(enabled=False).values_list("job_name", flat=True))


class EngineProcessQuerySet(models.QuerySet):
    def alive(self, now: datetime) -> "EngineProcessQuerySet":
        """Processes that have not stopped and beat within the silence limit."""
        return self.filter(stopped_at__isnull=True, last_beat_at__gte=now - EngineProcess.silence_limit())

    def consumed_queues(self, now: datetime) -> set[str]:
        """The queues that live qclusters' workers consume (where a run handed over now would be taken)."""
        return {
            queue
            for queues in self.alive(now).filter(workers__gt=0).values_list("queues", flat=True)
            for queue in queues
        }


class EngineProcess(models.Model):
    """One running engine process: a ``qcluster`` (django-q2 workers, usually with a dispatcher inside) or a
    standalone ``manage.py jobs dispatch``.

    Registered when the process starts, beaten every JOBS_HEARTBEAT_SECONDS by a thread of its main process
    (not per run), and stamped ``stopped_at`` when it exits cleanly. One that stopped beating for
    ``silence_limit()`` is gone: the reaper marks the runs it was executing ``lost`` at once instead of
    waiting for JOBS_LOST_AFTER_SECONDS. Runs name the process they ran in (``JobRun.engine_process``).
    Health checks, metrics and the dashboard read the live ones with ``EngineProcess.objects.alive(now)``.
    """

    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=100, blank=True, help_text="APP_VERSION of the running code.")
    runs_dispatcher = models.BooleanField(default=False)
    workers = models.PositiveSmallIntegerField(default=0, help_text="django-q2 worker processes (0: none).")
    queues = models.JSONField(default=list, blank=True, help_text="The broker queues its workers consume.")

    objects = EngineProcessQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(
                fields=["last_beat_at"], name="engineprocess_beat_idx", condition=Q(stopped_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        kind = "qcluster" if self.workers else "dispatcher"
        return f"{kind} {self.host}:{self.pid}"

    @staticmethod
    def silence_limit() -> timedelta:
        """How long a process may go without a beat before it counts as gone: one and a half periods, so a
        late beat is tolerated and a dead process is noticed within two periods (with the reaper's tick)."""
        return timedelta(seconds=1.5 * settings.JOBS_HEARTBEAT_SECONDS)

    def is_alive(self, now: datetime) -> bool:
        return self.stopped_at is None and self.last_beat_at >= now - self.silence_limit()

    def beat(self, *, now: datetime) -> bool:
        """Stamp ``last_beat_at``; False once the row says the process stopped (or the row is gone)."""
        beaten = EngineProcess.objects.filter(pk=self.pk, stopped_at__isnull=True).update(last_beat_at=now)
        if beaten:
            self.last_beat_at = now
        return bool(beaten)

    def mark_stopped(self, *, now: datetime) -> None:
        EngineProcess.objects.filter(pk=self.pk, stopped_at__isnull=True).update(stopped_at=now)
        self.stopped_at = now


class InvalidTransition(RuntimeError):
    """A run held in memory was asked for a change its current status does not allow (a programming error)."""


class JobRun(models.Model):
    """One execution (or a recorded non-execution) of a job for one slot."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"  # waiting for its due time (retries with backoff)
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        LOST = "lost", "Lost"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Manual"
        RETRY = "retry", "Retry"
        STARTUP = "startup", "Start-up"
        ENQUEUED = "enqueued", "Enqueued from code"  # jobs.enqueue(): fire-and-forget or delayed
        BACKFILL = "backfill", "Backfill"  # a past slot run on request (jobs.backfill)

    # The state machine: each status and the statuses a run may move to it from; a new run is born
    # ``scheduled``. Every change is one conditional UPDATE (``... WHERE status IN (sources)``), so of two
    # processes racing for a run exactly one wins and the other learns it from the row count, without
    # reading the row again.
    TRANSITIONS = {
        Status.QUEUED: {Status.SCHEDULED},  # queue(): admitted by the dispatcher, handed to the broker
        Status.RUNNING: {Status.QUEUED},  # mark_running(): a worker took it (a re-delivery finds nothing)
        Status.SUCCEEDED: {Status.RUNNING},  # succeed()
        Status.FAILED: {Status.SCHEDULED, Status.RUNNING},  # fail(): refused at the door, or the job raised
        Status.TIMED_OUT: {Status.RUNNING},  # time_out(): past its soft deadline
        Status.LOST: {Status.RUNNING},  # mark_lost(): its worker or qcluster is gone
        Status.SKIPPED: {Status.SCHEDULED, Status.RUNNING},  # skip(): overlap at the door, or RunSkipped
        Status.CANCELLED: {Status.SCHEDULED, Status.QUEUED, Status.RUNNING},  # cancel()
    }
    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)
    # Not ended yet: waiting for its time, queued or running (a unique key is held while in these).
    ACTIVE = (Status.SCHEDULED, Status.QUEUED, Status.RUNNING)
    FINISHED = (
        Status.SUCCEEDED,
        Status.FAILED,
        Status.TIMED_OUT,
        Status.LOST,
        Status.SKIPPED,
        Status.CANCELLED,
    )

    # Every index is one more entry each status change writes (the two per run of the hot path): the
    # foreign keys to schedule and owner need none of their own, the composite indexes below lead with them.
    schedule = models.ForeignKey(
        Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs", db_index=False
    )
    job_name = models.CharField(max_length=200)
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="job_runs", db_index=False)
    kwargs = models.JSONField(default=dict, blank=True)
    slot = models.DateTimeField(help_text="The fire time this run stands for (UTC).")
    due_at = models.DateTimeField(help_text="When it may start: the slot, or later for retries.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULED)
    # The queue it is handed to (its job's, see jobs.queues); the default one when nobody consumes it.
    queue_name = models.CharField(max_length=40, default=DEFAULT_QUEUE, db_default=DEFAULT_QUEUE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)

    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    engine_process = models.ForeignKey(
        EngineProcess, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # Set while running when someone (a person, the replace policy) asked it to stop; the worker's next
    # heartbeat sees it and cancels the job.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retries",
        db_index=False,  # indexed where set only (jobrun_retry_of_idx): most runs are first attempts
        help_text="The attempt this one follows (a retry, a recheck after a skip, a retry asked by hand).",
    )

    # enqueue(unique_key=…): while a run of the same owner and job holds the key (waiting, queued or
    # running), enqueuing it again returns that run. The partial unique index below decides.
    unique_key = models.CharField(max_length=200, blank=True, default="", db_default="")

    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The database, not a process, guarantees a slot runs once (per attempt).
            models.UniqueConstraint(
                fields=["schedule", "slot", "attempt"], name="jobrun_unique_schedule_slot_attempt"
            ),
            # One active run per owner, job and unique key (Oban's unique jobs), enforced by the database.
            models.UniqueConstraint(
                fields=["owner", "job_name", "unique_key"],
                condition=Q(status__in=["scheduled", "queued", "running"]) & ~Q(unique_key=""),
                name="jobrun_unique_key_while_active",
            ),
        ]
        indexes = [
            models.Index(fields=["-slot"], name="jobrun_slot_idx"),
            # A schedule's runs, newest first, walk the unique (schedule, slot, attempt) index backwards.
            models.Index(
                fields=["retry_of"], name="jobrun_retry_of_idx", condition=Q(retry_of__isnull=False)
            ),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="jobrun_active_idx",
                condition=Q(status__in=["scheduled", "queued", "running"]),
            ),
            # Due retries and queue-behind runs (scheduled), and the outbox of queued runs for the reaper.
            models.Index(
                fields=["status", "due_at"],
                name="jobrun_waiting_idx",
                condition=Q(status__in=["scheduled", "queued"]),
            ),
            # The overlap check: does this schedule have a run in flight?
            models.Index(
                fields=["schedule"],
                name="jobrun_in_flight_idx",
                condition=Q(status__in=["queued", "running"]),
            ),
            # The admin's run list, newest first, filtered by status, job or owner (staff always see
            # their owners only): each filter walks its own index in list order, even on page 500.
            models.Index(fields=["status", "-slot", "-id"], name="jobrun_status_slot_idx"),
            models.Index(fields=["job_name", "-slot", "-id"], name="jobrun_job_slot_idx"),
            models.Index(fields=["owner", "-slot", "-id"], name="jobrun_owner_slot_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} @ {self.slot:%Y-%m-%d %H:%M:%S} UTC #{self.attempt} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def lateness(self) -> timedelta | None:
        """How long after its due time the run started."""
        return None if self.started_at is None else self.started_at - self.due_at

    @classmethod
    def planned(
        cls,
        *,
        job_name: str,
        owner_id: int,
        slot: datetime,
        trigger: str,
        schedule_id: int | None = None,
        kwargs: dict | None = None,
        due_at: datetime | None = None,
        status: str = Status.SCHEDULED,
        attempt: int = 1,
        retry_of_id: int | None = None,
        queue_name: str | None = None,
        unique_key: str = "",
    ) -> "JobRun":
        """An unsaved run for ``slot``, due at ``due_at`` (default: the slot itself), for the queue
        ``queue_name`` (default: its job's).

        The one place a run is made: the dispatcher's slots, run now, start-up runs, runs enqueued from
        code, backfills and every retry (``of_schedule`` and ``next_attempt`` build on it).
        """
        return cls(
            schedule_id=schedule_id,
            job_name=job_name,
            owner_id=owner_id,
            kwargs={} if kwargs is None else kwargs,
            slot=slot,
            due_at=slot if due_at is None else due_at,
            trigger=trigger,
            status=status,
            attempt=attempt,
            retry_of_id=retry_of_id,
            queue_name=queue_name or job_queue(job_name),
            unique_key=unique_key,
        )

    @classmethod
    def of_schedule(
        cls, schedule: Schedule, *, slot: datetime, trigger: str, due_at: datetime | None = None
    ) -> "JobRun":
        """An unsaved first attempt of ``schedule`` for ``slot``: the schedule's job, owner and arguments,
        due at ``due_at`` (default: the slot; later with the schedule's jitter)."""
        return cls.planned(
            schedule_id=schedule.pk,
            job_name=schedule.job_name,
            owner_id=schedule.owner_id,
            kwargs=schedule.kwargs,
            slot=slot,
            due_at=due_at,
            trigger=trigger,
        )

    @classmethod
    def key_holder(cls, *, owner_id: int, job_name: str, unique_key: str) -> "JobRun | None":
        """The run of this owner and job that holds ``unique_key`` (waiting, queued or running), if any."""
        if not unique_key:
            return None
        return cls.objects.filter(
            owner_id=owner_id, job_name=job_name, unique_key=unique_key, status__in=cls.ACTIVE
        ).first()

    def next_attempt(self, *, due_at: datetime, attempt: int | None = None) -> "JobRun":
        """The unsaved retry of this run: same schedule, slot and arguments, the next attempt, due then.

        Saving it twice is impossible (unique schedule, slot and attempt), which makes every retry path
        idempotent: the second process to create it gets an ``IntegrityError``. A unique key goes with it:
        a run waiting for its retry still holds the key.
        """
        return JobRun.planned(
            schedule_id=self.schedule_id,
            job_name=self.job_name,
            owner_id=self.owner_id,
            kwargs=self.kwargs,
            slot=self.slot,
            due_at=due_at,
            trigger=JobRun.Trigger.RETRY,
            attempt=attempt or self.attempt + 1,
            retry_of_id=self.pk,
            queue_name=self.queue_name,
            unique_key=self.unique_key,
        )

    # --- Transitions -------------------------------------------------------------------------------------
    #
    # Each returns True if the run changed, False if the row was no longer in a status the change allows
    # (another process got there first). ``held=True`` is for the dispatcher: the run is new or locked by
    # its SELECT … FOR UPDATE, so the change is checked against TRANSITIONS and made in memory, and the
    # dispatcher writes its whole batch at once.

    def queue(self, *, now: datetime, task_id: str, held: bool = False) -> bool:
        return self._transition(self.Status.QUEUED, held=held, queued_at=now, task_id=task_id)

    def mark_running(self, *, now: datetime, worker: str, engine_process_id: int | None = None) -> bool:
        """A worker takes the run. The UPDATE also returns the row: this instance (which may hold no more
        than the id) becomes the whole run, its ``schedule`` loaded with ``RUNNER_SCHEDULE_FIELDS``, so
        the flip is also the runner's read (one round trip to start a run)."""
        fields = {
            "started_at": now,
            "heartbeat_at": now,
            "worker": worker[:200],
            "engine_process_id": engine_process_id,
        }
        return update_returning(
            self,
            status=self.Status.RUNNING,
            sources=self.TRANSITIONS[self.Status.RUNNING],
            fields=fields,
            related="schedule",
            related_fields=RUNNER_SCHEDULE_FIELDS,
        )

    def succeed(self, *, now: datetime, result: object = None) -> bool:
        return self._transition(self.Status.SUCCEEDED, **self._ended(now, result=result))

    def fail(self, *, now: datetime, error: str, traceback: str = "", held: bool = False) -> bool:
        return self._transition(
            self.Status.FAILED, held=held, **self._ended(now, error=error, traceback=traceback)
        )

    def time_out(self, *, now: datetime, error: str, traceback: str = "") -> bool:
        return self._transition(self.Status.TIMED_OUT, **self._ended(now, error=error, traceback=traceback))

    def mark_lost(self, *, now: datetime, error: str) -> bool:
        return self._transition(self.Status.LOST, **self._ended(now, error=error))

    def skip(self, *, now: datetime, reason: str, result: object = None, held: bool = False) -> bool:
        return self._transition(
            self.Status.SKIPPED, held=held, **self._ended(now, error=reason, result=result)
        )

    def cancel(
        self, *, now: datetime, reason: str | None = None, held: bool = False, not_started: bool = False
    ) -> bool:
        """End the run as cancelled; ``reason=None`` keeps the reason stored by ``request_cancel``.

        ``not_started=True`` cancels only a run that is still waiting or queued (a person's request: a
        running run must be stopped by its worker, see ``request_cancel``).
        """
        ended = self._ended(now)
        if reason is None:
            del ended["error"]
        else:
            ended["error"] = reason
        sources = {self.Status.SCHEDULED, self.Status.QUEUED} if not_started else None
        return self._transition(self.Status.CANCELLED, held=held, sources=sources, **ended)

    def request_cancel(self, *, now: datetime, reason: str) -> bool:
        """Ask the worker of a running run to stop it (no status change yet: the worker records it).

        False if the run is not running or a cancellation was already requested.
        """
        asked = JobRun.objects.filter(
            pk=self.pk, status=self.Status.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now, error=reason)
        if asked:
            self.cancel_requested_at, self.error = now, reason
        return bool(asked)

    def beat(self, *, now: datetime) -> bool:
        """Stamp the heartbeat of a running run; False once it is no longer running or was asked to stop."""
        return bool(
            JobRun.objects.filter(
                pk=self.pk, status=self.Status.RUNNING, cancel_requested_at__isnull=True
            ).update(heartbeat_at=now)
        )

    def _ended(self, now: datetime, *, error: str = "", traceback: str = "", result: object = None) -> dict:
        duration = now - self.started_at if self.started_at else None
        return {
            "finished_at": now,
            "duration": duration,
            "error": error,
            "traceback": traceback,
            "result": result,
        }

    def _transition(self, status: str, *, held: bool = False, sources: set | None = None, **fields) -> bool:
        allowed = self.TRANSITIONS[status] if sources is None else self.TRANSITIONS[status] & sources
        if held:
            if self.status not in allowed:
                raise InvalidTransition(
                    f"Run #{self.pk or '(new)'} is {self.status}; it cannot become {status}."
                )
        elif not update_if(JobRun, self.pk, status=status, sources=allowed, fields=fields):
            return False
        self.status = status
        for name, value in fields.items():
            setattr(self, name, value)
        return True
