"""The dispatcher: due slots become JobRun rows and django-q2 tasks, exactly once, with many dispatchers.

Each claim is one short transaction: ``SELECT … FOR UPDATE SKIP LOCKED`` takes due schedules no other
dispatcher holds (on SQLite, which has no row locks, the IMMEDIATE transaction serialises writers), inserts
one run per slot (the unique (schedule, slot, attempt) constraint is the real guard), advances
``next_run_at`` and enqueues the queued runs (see ``jobs.handoff``). Between claims the loop sleeps until the
earliest due time, found by an indexed query, and wakes early when a schedule changes (``jobs.wakeup``).

Fire-ahead (``JOBS_DISPATCH_LEAD_MS``, PostgreSQL): the loop wakes that long before a slot and prepares the
claim as of the slot, then holds the transaction open until the slot itself and commits. The runs reach
the workers at the slot, and the claim's own cost (tens of milliseconds, more under load) is no longer
part of anyone's lateness. The locks make the other dispatchers skip those schedules meanwhile; the one
difference in meaning is that "is a run of this schedule still in flight?" (overlap policies) is asked up
to the lead earlier.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from jobs.admission import Admission, in_flight_schedule_ids
from jobs.bulk import insert_skipping_conflicts, update_fields
from jobs.fire_ahead import FireAhead
from jobs.handoff import enqueue_runs
from jobs.identity import worker_identity
from jobs.models import JobRun, JobSwitch, Schedule
from jobs.planning import jittered_due_at, plan_slots
from jobs.reaper import reap
from jobs.registry import refusal_of
from jobs.retries import policy_for, policy_for_run
from jobs.services import request_startup_runs, sync_default_schedules
from jobs.triggers import InvalidTrigger
from jobs.wakeup import LOOK_AGAIN_SECONDS, WakeupListener

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# The longest uninterrupted sleep: bounds how long SIGTERM or a switched-on JOBS_ENABLED takes to notice.
MAX_SLEEP_SECONDS = LOOK_AGAIN_SECONDS
# How soon to look again when due work is there but locked by another dispatcher's claim.
BUSY_RETRY_SECONDS = 0.02
# Housekeeping (the reaper) runs this often, and at least twice per heartbeat period, so a dead worker's
# run is lost within two periods (see EngineProcess.silence_limit).
HOUSEKEEPING_EVERY = timedelta(seconds=5)
SYNC_DEFAULTS_EVERY = timedelta(minutes=1)


@dataclass
class DispatchReport:
    schedules: int = 0
    queued: int = 0
    skipped: int = 0
    waiting: int = 0
    failed: int = 0
    conflicts: int = 0
    released: int = 0  # waiting runs taken (retries, manual, start-up, queued behind a busy one)

    @property
    def claimed_anything(self) -> bool:
        return bool(self.schedules or self.released)

    def __iadd__(self, other: "DispatchReport") -> "DispatchReport":
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        return self

    def count(self, runs: list[JobRun]) -> None:
        for run in runs:
            if run.status == JobRun.Status.QUEUED:
                self.queued += 1
            elif run.status == JobRun.Status.SKIPPED:
                self.skipped += 1
            elif run.status == JobRun.Status.SCHEDULED:
                self.waiting += 1
            elif run.status == JobRun.Status.FAILED:
                self.failed += 1


def dispatch_due(
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    before_commit: Callable[[], None] | None = None,
    before_push: Callable[[], None] | None = None,
) -> DispatchReport:
    """Claim every schedule and waiting run due at ``now``, batch after batch, and enqueue their runs.

    The fire-ahead hooks (``now`` may lie a little ahead): ``before_commit`` is called inside each claim's
    transaction once its work is done, ``before_push`` right after a claim that enqueued runs committed,
    before its runs are pushed to the broker. Rows on the ORM broker wait in the table until ``now``.
    """
    total = DispatchReport()
    hooks = {"before_commit": before_commit, "before_push": before_push}
    while True:
        report = claim_due_schedules(now=now, batch_size=batch_size, **hooks)
        total += report
        if report.schedules < batch_size:
            break
    while True:
        report = release_waiting_runs(now=now, batch_size=batch_size, **hooks)
        total += report
        if report.released < batch_size:
            break
    return total


def claim_due_schedules(
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    before_commit: Callable[[], None] | None = None,
    before_push: Callable[[], None] | None = None,
) -> DispatchReport:
    """One claim: lock up to ``batch_size`` due schedules, record their runs, advance them, enqueue."""
    report = DispatchReport()
    with transaction.atomic():
        schedules = list(
            Schedule.objects.filter(enabled=True, paused_at__isnull=True, next_run_at__lte=now)
            .order_by("next_run_at")
            .select_for_update(skip_locked=True)[:batch_size]
        )
        if not schedules:
            return report
        report.schedules = len(schedules)
        switched_off = JobSwitch.disabled_job_names()
        admission = Admission(now=now, busy_schedule_ids=in_flight_schedule_ids([s.pk for s in schedules]))
        new_runs: list[JobRun] = []
        for schedule in schedules:
            new_runs.extend(_runs_for_slots(schedule, now, switched_off, admission))
        inserted = _insert_runs(new_runs + admission.follow_ups)
        report.conflicts = len(new_runs) + len(admission.follow_ups) - len(inserted)
        update_fields(schedules, ["next_run_at", "last_run_at", "last_status"])
        kept = {id(run) for run in inserted}
        _enqueue(
            [(run, timeout) for run, timeout in admission.to_enqueue if id(run) in kept], now, before_push
        )
        report.count([run for run in new_runs if id(run) in kept])
        if before_commit is not None:
            before_commit()
    return report


def release_waiting_runs(
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    before_commit: Callable[[], None] | None = None,
    before_push: Callable[[], None] | None = None,
) -> DispatchReport:
    """Admit due ``scheduled`` runs (retries, manual runs, start-up runs, runs queued behind a busy one)."""
    report = DispatchReport()
    with transaction.atomic():
        runs = list(
            JobRun.objects.filter(status=JobRun.Status.SCHEDULED, due_at__lte=now)
            .select_related("schedule")
            .order_by("due_at", "slot")
            .select_for_update(skip_locked=True, of=("self",))[:batch_size]
        )
        if not runs:
            return report
        report.released = len(runs)
        switched_off = JobSwitch.disabled_job_names()
        admission = Admission(
            now=now, busy_schedule_ids=in_flight_schedule_ids([r.schedule_id for r in runs if r.schedule_id])
        )
        for run in runs:
            if run.job_name in switched_off:
                admission.cancel_switched_off(run)
            elif refusal := refusal_of(run.job_name, run.owner_id):
                admission.refuse(run, refusal)
            else:
                next_slot = run.schedule.next_run_at if run.schedule else None
                admission.admit(run, policy_for_run(run), next_slot)
        update_fields(runs, ["status", "due_at", "queued_at", "task_id", "finished_at", "error"])
        _insert_runs(admission.follow_ups)
        _enqueue(admission.to_enqueue, now=now, before_push=before_push)
        report.count(runs)
        if before_commit is not None:
            before_commit()
    return report


def _enqueue(
    runs: list[tuple[JobRun, int | None]], now: datetime, before_push: Callable[[], None] | None
) -> None:
    if runs and before_push is not None:
        # Registered before the broker's own after-commit push, so it runs first once the claim commits.
        transaction.on_commit(before_push)
    enqueue_runs(runs, now=now, available_at=now)


def earliest_due() -> datetime | None:
    """The earliest time anything becomes due: a schedule's next slot or a waiting run (indexed lookups)."""
    next_slot = (
        Schedule.objects.filter(enabled=True, paused_at__isnull=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
    next_waiting = (
        JobRun.objects.filter(status=JobRun.Status.SCHEDULED)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    candidates = [moment for moment in (next_slot, next_waiting) if moment is not None]
    return min(candidates) if candidates else None


def due_count(at: datetime, *, limit: int = BATCH_SIZE) -> int:
    """How many schedules and waiting runs are due by ``at``, each counted up to ``limit`` (indexed)."""
    schedules = Schedule.objects.filter(enabled=True, paused_at__isnull=True, next_run_at__lte=at)
    waiting = JobRun.objects.filter(status=JobRun.Status.SCHEDULED, due_at__lte=at)
    return schedules.order_by()[:limit].count() + waiting.order_by()[:limit].count()


def _runs_for_slots(
    schedule: Schedule, now: datetime, switched_off: set[str], admission: Admission
) -> list[JobRun]:
    try:
        plan = plan_slots(schedule, now)
    except (InvalidTrigger, ValueError) as error:
        # A row broken behind the form's back: record it once and stop firing until someone fixes it.
        logger.error("event=schedule_invalid schedule=%s error=%s", schedule.pk, error)
        schedule.next_run_at = None
        schedule.last_status = JobRun.Status.FAILED
        run = JobRun.of_schedule(schedule, slot=now, trigger=JobRun.Trigger.SCHEDULED)
        run.fail(now=now, error=f"The schedule's trigger is invalid: {error}", held=True)
        return [run]
    schedule.next_run_at = plan.next_run_at
    if plan.missed_dropped:
        logger.info("event=missed_slots_dropped schedule=%s count=%s", schedule.pk, plan.missed_dropped)
    if schedule.job_name in switched_off or not plan.slots:
        return []
    runs = [
        JobRun.of_schedule(
            schedule, slot=slot, trigger=JobRun.Trigger.SCHEDULED, due_at=jittered_due_at(schedule, slot)
        )
        for slot in plan.slots
    ]
    if refusal := refusal_of(schedule.job_name, schedule.owner_id):
        for run in runs:
            admission.refuse(run, refusal)
        logger.error(
            "event=run_refused schedule=%s job=%s reason=%s", schedule.pk, schedule.job_name, refusal
        )
    else:
        policy = policy_for(schedule, schedule.job_name)
        for run in runs:
            if run.due_at <= now:
                admission.admit(run, policy, plan.next_run_at)
            # else: jittered past now, it waits (scheduled) and is released when due, like a retry
    schedule.last_run_at = runs[-1].slot
    if runs[-1].status in JobRun.FINISHED:
        # Skipped or refused at the door; otherwise the runner records the outcome when the run ends.
        schedule.last_status = runs[-1].status
    return runs


def _insert_runs(runs: list[JobRun]) -> list[JobRun]:
    """Insert runs in one statement; a slot that already has its run keeps it (logged)."""
    inserted = insert_skipping_conflicts(runs)
    if len(inserted) < len(runs):
        kept = {id(run) for run in inserted}
        for run in runs:
            if id(run) not in kept:
                logger.warning(
                    "event=slot_already_run schedule=%s slot=%s", run.schedule_id, run.slot.isoformat()
                )
    return inserted


class Dispatcher:
    """The long-running loop: dispatch what is due, reap lost runs, sleep until the next due time.

    ``tick(now)`` is one step of it (what the loop calls, and what tests call with a controlled clock);
    ``clock`` and ``sleep`` are the only ways it reads or spends time, so a test can drive both.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = timezone.now,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = BATCH_SIZE,
        max_sleep: float = MAX_SLEEP_SECONDS,
        lead: timedelta | None = None,
        max_lead: timedelta | None = None,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.batch_size = batch_size
        self.max_sleep = max_sleep
        # How early a claim starts: between the shortest and the longest lead, as claims of its size took.
        self.fire_ahead = FireAhead(
            floor=lead if lead is not None else timedelta(milliseconds=settings.JOBS_DISPATCH_LEAD_MS),
            ceiling=max_lead
            if max_lead is not None
            else timedelta(milliseconds=settings.JOBS_DISPATCH_LEAD_MAX_MS),
            clock=clock,
            sleep=sleep,
        )
        self.listener = WakeupListener()
        self.stopping = threading.Event()
        self._last_housekeeping: datetime | None = None
        self._last_sync: datetime | None = None
        self._said_disabled = False

    def stop(self) -> None:
        """Ask the loop to end after the current step (safe from a signal handler)."""
        self.stopping.set()

    def run(self, *, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Run until ``stop()`` is called or ``keep_going()`` turns false."""
        logger.info(
            "event=dispatcher_started identity=%s enabled=%s", worker_identity(), settings.JOBS_ENABLED
        )
        try:
            self.start_up(self.clock())
            while not self.stopping.is_set() and keep_going():
                self.step()
        finally:
            self.listener.close()
            logger.info("event=dispatcher_stopped identity=%s", worker_identity())

    def start_up(self, now: datetime) -> None:
        """Create missing default schedules and this deployment's start-up runs; ``tick`` re-syncs after."""
        sync_default_schedules(now=now)
        self._last_sync = now
        if settings.JOBS_ENABLED:
            created = request_startup_runs(now=now)
            if created:
                logger.info("event=startup_runs_requested count=%s", len(created))

    def step(self) -> None:
        """One tick at the clock's time, then sleep until the next due time (or a wake-up)."""
        try:
            timeout = self.tick(self.clock())
        except DatabaseError:
            logger.exception("event=dispatcher_database_error action=reconnect_in_1s")
            connections.close_all()
            timeout = 1.0
        except Exception:
            # The loop outlives one bad step (a bug, a broken row); the traceback goes to the log.
            logger.exception("event=dispatcher_step_failed action=retry_in_1s")
            timeout = 1.0
        if not self.stopping.is_set():
            self.listener.wait(timeout)

    def tick(self, now: datetime) -> float:
        """Housekeeping when it is due, then dispatch what is due by ``now`` (plus the lead); returns how
        many seconds the loop may sleep before the next tick.

        The lead follows how long claims of that many due schedules took (``jobs.fire_ahead``); a claim
        prepared ahead of its slot is held until just before it (``sleep``). When due work is locked by
        another dispatcher's claim, the answer is ``BUSY_RETRY_SECONDS``.
        """
        self._housekeeping(now)
        if not settings.JOBS_ENABLED:
            if not self._said_disabled:
                logger.warning("event=dispatch_disabled reason=JOBS_ENABLED_is_off")
                self._said_disabled = True
            return self.max_sleep
        due = earliest_due()
        if due is not None:
            count, lead = self._lead_for(due)
            if due <= now + lead:
                slot = max(due, now)
                dispatch = partial(dispatch_due, now=slot, batch_size=self.batch_size)
                report = self.fire_ahead.claim(slot, count, dispatch)
                logger.debug("event=dispatched %s", report)
                if not report.claimed_anything:
                    return BUSY_RETRY_SECONDS  # another dispatcher holds it; its commit ends the wait
                due = earliest_due()
        if due is None:
            return self.max_sleep
        _, lead = self._lead_for(due)
        return min(max((due - lead - self.clock()).total_seconds(), 0.0), self.max_sleep)

    def _lead_for(self, due: datetime) -> tuple[int, timedelta]:
        """How much is due by ``due`` (counted only when the lead adapts to it), and the lead for it."""
        count = due_count(due, limit=self.batch_size) if self.fire_ahead.adaptive else 0
        return count, self.fire_ahead.lead_for(count)

    def _housekeeping(self, now: datetime) -> None:
        """Reap every HOUSEKEEPING_EVERY (at least every half heartbeat, so a dead worker's run is lost
        within two heartbeat periods); once started up, re-sync default schedules every minute."""
        every = min(HOUSEKEEPING_EVERY, timedelta(seconds=settings.JOBS_HEARTBEAT_SECONDS / 2))
        if self._last_housekeeping is not None and now - self._last_housekeeping < every:
            return
        self._last_housekeeping = now
        reap(now=now, requeue=settings.JOBS_ENABLED)
        if self._last_sync is not None and now - self._last_sync >= SYNC_DEFAULTS_EVERY:
            self._last_sync = now
            sync_default_schedules(now=now)
