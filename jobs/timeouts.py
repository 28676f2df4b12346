"""Two limits on every run, in a fixed order: our soft deadline first, django-q2's hard kill after it.

The soft deadline raises ``RunTimedOut`` inside the job, which ends ``timed_out`` after its cleanup (an
aborted upload, a killed ``pg_dump``). django-q2 kills the whole worker process at the task's timeout;
that is the backstop for a job stuck where no exception reaches it, and it leaves the run ``lost``. So the
hard limit is the soft one plus ``HARD_TIMEOUT_MARGIN_SECONDS``, and the longest soft timeout is
``JOBS_MAX_TIMEOUT`` minus that margin. A run without a timeout of its own gets the longest.
"""

from django.conf import settings

# Time a timed-out job has for its cleanup before django-q2's guard kills the worker.
HARD_TIMEOUT_MARGIN_SECONDS = 30


def max_timeout_seconds() -> int:
    """The longest soft timeout a run may have: JOBS_MAX_TIMEOUT minus the hard-kill margin."""
    return settings.JOBS_MAX_TIMEOUT - HARD_TIMEOUT_MARGIN_SECONDS


def soft_timeout_seconds(timeout_seconds: int | None) -> int:
    """The run's own timeout, capped at the maximum; the maximum when it has none."""
    longest = max_timeout_seconds()
    return min(timeout_seconds, longest) if timeout_seconds else longest


def hard_timeout_seconds(timeout_seconds: int | None) -> int:
    """When django-q2 kills the worker: the soft deadline plus the margin (never above JOBS_MAX_TIMEOUT)."""
    return soft_timeout_seconds(timeout_seconds) + HARD_TIMEOUT_MARGIN_SECONDS
