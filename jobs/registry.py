"""Jobs are Python callables registered by a stable name with ``@job``; rows refer to them by that name.

    @job("alerts.low_stock", every=timedelta(hours=6), per_owner=True)
    def low_stock(ctx: JobContext, **kwargs) -> dict: ...

A job receives a ``JobContext`` and the schedule's kwargs, and returns a small JSON-able summary that is
stored on its run; it reports a deliberate non-run with ``RunSkipped`` and stops on
``ctx.raise_if_cancelled()`` (see ``jobs.context``). Each installed app's ``jobs.py`` is imported at
start-up (``autodiscover``), the way ``admin.py`` modules are.
"""

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils.module_loading import autodiscover_modules

from jobs.context import JobContext, RunCancelled, RunSkipped
from jobs.policies import MisfirePolicy, OverlapPolicy
from jobs.queues import DEFAULT_QUEUE, validate_queue_name
from tenants.models import GLOBAL_OWNER_ID

# What a job module needs besides ``job``: the context it receives and the outcomes it may raise.
__all__ = [
    "GlobalJobError",
    "InvalidJobArguments",
    "JobContext",
    "JobDefinition",
    "RunCancelled",
    "RunSkipped",
    "UnknownJobError",
    "autodiscover",
    "check_owner_may_run",
    "get_job",
    "job",
    "job_queue",
    "refusal_of",
    "registered_jobs",
]


class UnknownJobError(LookupError):
    def __str__(self) -> str:
        return f"No job is registered as {self.args[0]!r}."


class GlobalJobError(ValueError):
    """A job that works on every owner at once was asked for one owner."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} works on every owner at once: only the global owner (0) may schedule or run it."
        )


class InvalidJobArguments(ValueError):
    """Keyword arguments a job cannot be called with: every run with them would fail. Says why, plainly."""


@dataclass(frozen=True)
class JobDefinition:
    """A registered job and the defaults its schedules start from."""

    name: str
    func: Callable[..., Any]
    description: str = ""
    # Default trigger, used for the schedules created from the job itself (exactly one of them).
    cron: str | None = None
    every: timedelta | None = None
    timezone: str = "UTC"
    # Create the default schedule once per owner instead of once for the global owner.
    per_owner: bool = False
    # The job works on every owner at once (housekeeping, the sender, the missed-run check): only the global
    # owner may schedule or run it, so a tenant cannot start work that reaches other tenants.
    global_only: bool = False
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    overlap_retry_delay: timedelta = timedelta(hours=1)
    misfire: MisfirePolicy = MisfirePolicy.RUN_ONCE
    misfire_grace: timedelta = timedelta(minutes=5)
    catch_up_limit: int = 10
    max_attempts: int = 1
    retry_backoff: timedelta = timedelta(seconds=30)
    timeout: timedelta | None = None
    startup_delay: timedelta | None = None
    run_on_start: bool = False
    # Called as on_exception(ctx, exc) when a run fails, before the retry policy applies (like Rystem).
    on_exception: Callable[[JobContext, BaseException], None] | None = None
    # For jobs whose schedules are derived from data (e.g. backups from owner settings): called as
    # ensure_schedules(now=...) with the default-schedule sync, it creates the schedules that are missing.
    ensure_schedules: Callable[..., object] | None = None
    # The queue its runs go to (jobs.queues): a qcluster started with --queue NAME takes only those.
    queue: str = DEFAULT_QUEUE
    # Its runs may not come closer together than this (a job that takes longer), on top of the global
    # JOBS_MIN_INTERVAL_SECONDS; schedules that would fire more often are refused (jobs.limits).
    min_interval: timedelta | None = None

    @property
    def has_default_schedule(self) -> bool:
        return self.cron is not None or self.every is not None

    def check_kwargs(self, kwargs: Mapping[str, Any]) -> None:
        """Raise ``InvalidJobArguments`` unless the job can be called as ``func(ctx, **kwargs)``."""
        if not isinstance(kwargs, Mapping):
            raise InvalidJobArguments(
                f"Job {self.name}: keyword arguments are a mapping of names to values (a JSON object, "
                f'e.g. {{"full": true}}), not {kwargs!r}.'
            )
        signature = inspect.signature(self.func)
        try:
            signature.bind(None, **kwargs)
        except TypeError as error:
            raise InvalidJobArguments(
                f"The job {self.name} cannot take these arguments ({error}); it takes {_accepted(signature)}."
            ) from None


def _accepted(signature: inspect.Signature) -> str:
    """What a job's signature accepts besides its context, in words."""
    parameters = list(signature.parameters.values())[1:]
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return "any keyword arguments"
    names = [
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    return f"only {', '.join(names)}" if names else "no arguments"


_REGISTRY: dict[str, JobDefinition] = {}


def job(name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated callable under ``name``; ``options`` are JobDefinition fields."""
    if options.get("cron") and options.get("every"):
        raise ValueError(f"Job {name}: give a cron expression or an interval, not both.")
    validate_queue_name(options.get("queue", DEFAULT_QUEUE))
    if options.get("every") and options.get("min_interval") and options["every"] < options["min_interval"]:
        raise ValueError(f"Job {name}: its default interval is shorter than its own min_interval.")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY.get(name)
        # Re-importing the same module (autoreload, tests) registers the same function again: fine.
        if existing is not None and _qualified(existing.func) != _qualified(func):
            raise ValueError(f"Job name {name!r} is already registered by {_qualified(existing.func)}.")
        summary_line = (func.__doc__ or "").strip().split("\n")[0]
        fields = {**options, "description": options.get("description") or summary_line}
        _REGISTRY[name] = JobDefinition(name=name, func=func, **fields)
        return func

    return register


def _qualified(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def get_job(name: str) -> JobDefinition:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownJobError(name) from None


def check_owner_may_run(name: str, owner_id: int) -> None:
    """Raise ``GlobalJobError`` when job ``name`` is global-only and ``owner_id`` is not the global owner."""
    definition = _REGISTRY.get(name)
    if definition is not None and definition.global_only and owner_id != GLOBAL_OWNER_ID:
        raise GlobalJobError(name)


def refusal_of(name: str, owner_id: int) -> str:
    """Why a run of job ``name`` for ``owner_id`` must not run ("" when it may): the job is unknown here,
    or it works on every owner and the owner is not the global one (a row made behind the form's back)."""
    if name not in _REGISTRY:
        return str(UnknownJobError(name))
    try:
        check_owner_may_run(name, owner_id)
    except GlobalJobError as refused:
        return str(refused)
    return ""


def job_queue(name: str) -> str:
    """The queue a run of job ``name`` goes to: its own, or the default one for a job not registered here."""
    definition = _REGISTRY.get(name)
    return DEFAULT_QUEUE if definition is None else definition.queue


def registered_jobs() -> list[JobDefinition]:
    return sorted(_REGISTRY.values(), key=lambda definition: definition.name)


def autodiscover() -> None:
    autodiscover_modules("jobs")
