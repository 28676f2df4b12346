from django.db import models
from django.db.models import Q

from jobs.policies import MisfirePolicy, OverlapPolicy
from tenants.models import GLOBAL_OWNER_ID, Owner, validate_timezone


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
    startup_delay_seconds = models.PositiveIntegerField(null=True, blank=True)
    run_on_start = models.BooleanField(default=False)

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
        ]

    def __str__(self) -> str:
        return f"{self.job_name} @ {self.slot:%Y-%m-%d %H:%M:%S} #{self.attempt} ({self.status})"
