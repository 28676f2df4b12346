"""Run a domain job's step over the owners that have something to do, a chunk of owners at a time.

A domain job (low stock; trials and payments) is one global run over every owner. It does not walk the
owners one by one: it first asks the database, across all owners at once, which owners have something to
do (indexed set queries, in the job's own app), and hands those owner ids to ``sweep_owners``. The sweep
loads the active ones ``OWNER_CHUNK_SIZE`` at a time (one query per chunk) and calls the job's step once
per chunk, so the step changes every owner of the chunk with a constant number of set-based statements.
An owner with nothing to do costs nothing: a run that finds nothing anywhere is a handful of queries
whatever the number of owners.

One owner's failure stops no one else: an owner whose time zone cannot be loaded fails on its own before
its chunk runs (every step works in the owner's calendar), and if the step raises for a chunk, the chunk's
work (rolled back by the step's transaction) is done again owner by owner, so only the owner that raises
fails. Each failure is logged with its traceback, counted, and named in the summary.

Outcome (decided here, once, for every domain job): a run in which some owners failed *succeeds with
errors* — its summary carries ``owners_failed`` and the first failures, and the next run retries those
owners (every step is idempotent, and what is still to do keeps them among the owners found). A run in
which every owner it tried failed raises ``SweepFailed``, so the run is recorded as failed and the retry
policy applies: that is a broken system, not a broken owner.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from jobs.registry import JobContext
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Owner, OwnerSetting

logger = logging.getLogger(__name__)

OWNER_CHUNK_SIZE = 500
FAILURES_KEPT = 20  # the summary is stored on the run: keep it small however many owners fail
OWNER_FIELDS = ("pk", "name", "slug", "timezone", "contact_email")

ChunkStep = Callable[[list[Owner]], Mapping[str, int]]


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

    def fail(self, owner: Owner, error: Exception) -> None:
        self.owners_failed += 1
        if len(self.failures) < FAILURES_KEPT:
            self.failures.append({"owner_id": owner.pk, "error": f"{type(error).__name__}: {error}"})

    def as_dict(self) -> dict:
        return {
            "owners": self.owners,
            "owners_failed": self.owners_failed,
            **dict(sorted(self.counts.items())),
            "failures": self.failures,
        }


def sweep_owners(
    step: ChunkStep,
    owner_ids: Iterable[int],
    *,
    chunk_size: int = OWNER_CHUNK_SIZE,
    heartbeat: Callable[[], None] = lambda: None,
    job_logger: logging.Logger = logger,
) -> dict:
    """Call ``step(owners)`` for the active ones of ``owner_ids``, a chunk at a time; adds up its counts.

    Inactive owners and the global owner are left out; each owner is visited once, in id order. The
    summary's ``owners`` is the number of owners the step was run for (see the module docs for failures).
    """
    summary = SweepSummary()
    ordered = sorted(set(owner_ids))
    for start in range(0, len(ordered), chunk_size):
        owners = []
        for owner in _active_owners(ordered[start : start + chunk_size]):
            summary.owners += 1
            try:
                owner.zone  # noqa: B018 - fails here, for this owner alone, on a broken time zone
            except Exception as error:
                job_logger.exception("owner step failed", extra={"owner_id": owner.pk})
                summary.fail(owner, error)
            else:
                owners.append(owner)
        if owners:
            _run_chunk(step, owners, summary, job_logger)
        heartbeat()
    result = summary.as_dict()
    if summary.owners and summary.owners_failed == summary.owners:
        raise SweepFailed(result)
    return result


def _active_owners(owner_ids: list[int]) -> list[Owner]:
    return list(
        Owner.objects.filter(pk__in=owner_ids, is_active=True)
        .exclude(pk=GLOBAL_OWNER_ID)
        .order_by("pk")
        .only(*OWNER_FIELDS)
    )


def _run_chunk(
    step: ChunkStep, owners: list[Owner], summary: SweepSummary, job_logger: logging.Logger
) -> None:
    if len(owners) > 1:
        try:
            summary.counts.update(step(owners))
            return
        except Exception:
            # Some owner of the chunk broke it (the step's transaction rolled the chunk back): do the
            # chunk again one owner at a time, so only that owner fails.
            job_logger.warning("chunk step failed, retrying owner by owner", exc_info=True)
    for owner in owners:
        try:
            summary.counts.update(step([owner]))
        except Exception as error:  # isolate the owner: log it, count it, go on with the next one
            job_logger.exception("owner step failed", extra={"owner_id": owner.pk})
            summary.fail(owner, error)


def sweep_for_run(
    ctx: JobContext,
    *,
    find_owners: Callable[..., Iterable[int]],
    step: Callable[..., Mapping[str, int]],
) -> dict:
    """A domain job's body: ``step(owners, now=...)`` for the owners ``find_owners(now=...)`` names.

    One ``now`` for the whole run. A run of the global owner's schedule asks ``find_owners`` which owners
    have something to do; a run for one owner (``jobs run NAME --owner``, or a per-owner schedule) runs
    the step for that owner, whatever there is to do.
    """
    now: datetime = timezone.now()
    owner_ids = find_owners(now=now) if ctx.owner_id == GLOBAL_OWNER_ID else [ctx.owner_id]
    return sweep_owners(
        lambda owners: step(owners, now=now),
        owner_ids,
        heartbeat=ctx.heartbeat,
        job_logger=ctx.logger,
    )


def setting_for_owners(key: str, owner_ids: Iterable[int], *, chunk_size: int = 1000) -> dict[int, Any]:
    """The effective value of one owner setting for each of ``owner_ids``, one query per ``chunk_size``.

    Owners without a value of their own inherit exactly what the global owner resolves to (the order is
    owner → global owner → Django setting → default), so only owners with their own value are resolved one
    by one, through ``tenants.owner_settings`` like every other reader.
    """
    ids = list(owner_ids)
    if not ids:
        return {}
    inherited = owner_settings.get(GLOBAL_OWNER_ID, key)
    own: set[int] = set()
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        own.update(
            OwnerSetting.objects.filter(owner_id__in=chunk, key=key).values_list("owner_id", flat=True)
        )
    return {owner_id: owner_settings.get(owner_id, key) if owner_id in own else inherited for owner_id in ids}
