from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.policies import MisfirePolicy, OverlapPolicy
from jobs.triggers import InvalidTrigger, next_fire_after, validate_trigger
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

    enabled = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)

    overlap_policy = models.CharField(
        max_length=20, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    overlap_retry_delay_seconds = models.PositiveIntegerField(default=3600)
    misfire_policy = models.CharField(
        max_length=20, choices=MisfirePolicy.choices, default=MisfirePolicy.RUN_ONCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(default=300)
    catch_up_limit = models.PositiveIntegerField(default=10)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    retry_backoff_seconds = models.PositiveIntegerField(default=30)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
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
        try:
            validate_trigger(
                trigger_kind=self.trigger_kind,
                cron_expression=self.cron_expression,
                interval_seconds=self.interval_seconds,
                interval_anchor=self.interval_anchor,
                run_at=self.run_at,
                timezone=self.timezone,
            )
        except InvalidTrigger as invalid:
            raise ValidationError(_messages_of(invalid)) from None

    @property
    def is_active(self) -> bool:
        return self.enabled and self.paused_at is None

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def refresh_next_run_at(self, now: datetime) -> None:
        """Point ``next_run_at`` at the first slot strictly after ``now`` (None when inactive or done)."""
        if self.trigger_kind == TriggerKind.INTERVAL and self.interval_anchor is None:
            # "Counted from creation time" (whole seconds), made explicit so later edits keep the rhythm.
            self.interval_anchor = (self.created_at or now).replace(microsecond=0)
        self.next_run_at = next_fire_after(self, now) if self.is_active else None

    def _timing(self) -> tuple:
        return tuple(getattr(self, name) for name in TIMING_FIELDS)


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
    "run_on_start",
    "startup_delay_seconds",
)
# The fields that decide when a schedule fires next: changing one recomputes next_run_at.
TIMING_FIELDS = (*TRIGGER_FIELDS, "enabled", "paused_at")


def _messages_of(invalid: Exception) -> dict | str:
    errors = getattr(invalid, "errors", None) or (invalid.args[0] if invalid.args else None)
    if isinstance(errors, dict) and errors:
        return {field: str(message) for field, message in errors.items()}
    return str(invalid)


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

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)
    FINISHED = (
        Status.SUCCEEDED,
        Status.FAILED,
        Status.TIMED_OUT,
        Status.LOST,
        Status.SKIPPED,
        Status.CANCELLED,
    )

    schedule = models.ForeignKey(
        Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    job_name = models.CharField(max_length=200)
    owner = models.ForeignKey(Owner, on_delete=models.CASCADE, related_name="job_runs")
    kwargs = models.JSONField(default=dict, blank=True)
    slot = models.DateTimeField(help_text="The fire time this run stands for (UTC).")
    due_at = models.DateTimeField(help_text="When it may start: the slot, or later for retries.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULED)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)

    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

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
        ]
        indexes = [
            models.Index(fields=["-slot"], name="jobrun_slot_idx"),
            models.Index(fields=["schedule", "-slot"], name="jobrun_schedule_slot_idx"),
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
        return f"{self.job_name} @ {self.slot:%Y-%m-%d %H:%M:%S} #{self.attempt} ({self.status})"

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
    ) -> "JobRun":
        """An unsaved run for ``slot``, due at ``due_at`` (default: the slot itself).

        The one place a run is made: the dispatcher's slots, run now, start-up runs and every retry
        (``of_schedule`` and ``next_attempt`` build on it).
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
        )

    @classmethod
    def of_schedule(cls, schedule: Schedule, *, slot: datetime, trigger: str) -> "JobRun":
        """An unsaved first attempt of ``schedule`` for ``slot``: the schedule's job, owner and arguments."""
        return cls.planned(
            schedule_id=schedule.pk,
            job_name=schedule.job_name,
            owner_id=schedule.owner_id,
            kwargs=schedule.kwargs,
            slot=slot,
            trigger=trigger,
        )

    def next_attempt(self, *, due_at: datetime) -> "JobRun":
        """The unsaved retry of this run: same schedule, slot and arguments, the next attempt, due then.

        Saving it twice is impossible (unique schedule, slot and attempt), which makes every retry path
        idempotent: the second process to create it gets an ``IntegrityError``.
        """
        return JobRun.planned(
            schedule_id=self.schedule_id,
            job_name=self.job_name,
            owner_id=self.owner_id,
            kwargs=self.kwargs,
            slot=self.slot,
            due_at=due_at,
            trigger=JobRun.Trigger.RETRY,
            attempt=self.attempt + 1,
        )
