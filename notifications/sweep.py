"""Run one step per owner over all owners, in bounded batches, so one owner's failure stops no one else.

Both domain jobs (low stock, trials and payments) are one global run that walks the owners: owners are
read in keyset-paginated batches (constant memory, one query per batch), each owner's step does a constant
number of queries, and an exception in one owner is logged, counted and recorded in the summary while the
sweep moves on.

Outcome (decided here, once, for both jobs): a run in which some owners failed *succeeds with errors* —
its summary carries ``owners_failed`` and the first failures, the log has each traceback, and the next
scheduled run retries those owners (every step is idempotent). A run in which every owner failed raises
``SweepFailed`` so the run is recorded as failed and the retry policy applies: that is a broken system,
not a broken owner.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from jobs.registry import JobContext
from tenants.models import GLOBAL_OWNER_ID, Owner

logger = logging.getLogger(__name__)

OWNER_BATCH_SIZE = 500
FAILURES_KEPT = 20  # the summary is stored on the run: keep it small however many owners fail

OwnerStep = Callable[[Owner], dict[str, int]]


class SweepFailed(RuntimeError):
    """Every owner the sweep tried failed; the summary says how many and why."""

    def __init__(self, summary: dict) -> None:
        self.summary = summary
        first = summary["failures"][0]["error"] if summary["failures"] else "unknown error"
        super().__init__(f"all {summary['owners_failed']} owners failed; first error: {first}")


@dataclass
class SweepSummary:
    owners: int = 0
    owners_failed: int = 0
    counts: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "owners": self.owners,
            "owners_failed": self.owners_failed,
            **dict(sorted(self.counts.items())),
            "failures": self.failures,
        }


def owners_in_batches(
    owner_ids: list[int] | None = None, *, batch_size: int = OWNER_BATCH_SIZE
) -> Iterator[list[Owner]]:
    """Active owners (never the global owner), ``batch_size`` at a time, by id; one query per batch."""
    owners = Owner.objects.filter(is_active=True).exclude(pk=GLOBAL_OWNER_ID).order_by("pk")
    if owner_ids is not None:
        owners = owners.filter(pk__in=owner_ids)
    owners = owners.only("pk", "name", "slug", "timezone", "contact_email")
    last_id = -1
    while True:
        batch = list(owners.filter(pk__gt=last_id)[:batch_size])
        if not batch:
            return
        yield batch
        last_id = batch[-1].pk


def sweep_owners(
    step: OwnerStep,
    *,
    owner_ids: list[int] | None = None,
    batch_size: int = OWNER_BATCH_SIZE,
    heartbeat: Callable[[], None] = lambda: None,
    job_logger: logging.Logger = logger,
) -> dict:
    """Call ``step(owner)`` for each active owner and add up the counts it returns; see the module docs."""
    summary = SweepSummary()
    for batch in owners_in_batches(owner_ids, batch_size=batch_size):
        for owner in batch:
            summary.owners += 1
            try:
                summary.counts.update(step(owner))
            except Exception as error:  # isolate the owner: log it, count it, go on with the next one
                job_logger.exception("owner step failed", extra={"owner_id": owner.pk})
                summary.owners_failed += 1
                if len(summary.failures) < FAILURES_KEPT:
                    summary.failures.append(
                        {"owner_id": owner.pk, "error": f"{type(error).__name__}: {error}"}
                    )
        heartbeat()
    result = summary.as_dict()
    if summary.owners and summary.owners_failed == summary.owners:
        raise SweepFailed(result)
    return result


def sweep_for_run(ctx: JobContext, check_owner: Callable[..., dict[str, int]]) -> dict:
    """A domain job's body: ``check_owner(owner, now=...)`` for every owner, one ``now`` for the whole run.

    A run of the global owner's schedule sweeps every owner; a run for one owner (``jobs run NAME --owner``,
    or a per-owner schedule) sweeps that owner only.
    """
    now: datetime = timezone.now()
    return sweep_owners(
        lambda owner: check_owner(owner, now=now),
        owner_ids=None if ctx.owner_id == GLOBAL_OWNER_ID else [ctx.owner_id],
        heartbeat=ctx.heartbeat,
        job_logger=ctx.logger,
    )
