"""Queues: a job names the queue its runs go to, and each qcluster consumes one queue.

Every job runs on ``default`` unless it names another (``@job(..., queue="backups")``). A qcluster consumes
``default`` unless it is started with ``qcluster --queue NAME``; that is how a backup worker of its own
takes the long backups away from the workers the light jobs need. The queues are django-q2's own: each
name is a broker queue (its per-cluster ``list_key``, see ``jobs.djangoq.list_key``), not a queue of ours.

Routing (``route``): a run goes to its own queue when a live qcluster consumes it, and to ``default``
otherwise, so a site without a backup worker still runs its backups, on the one cluster it has.
"""

import re
from collections.abc import Collection

DEFAULT_QUEUE = "default"
_QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class InvalidQueueName(ValueError):
    pass


def validate_queue_name(name: str) -> str:
    """``name`` if it can name a queue (lower-case letters, digits, ``-`` and ``_``, up to 40), else raise."""
    if not isinstance(name, str) or not _QUEUE_NAME.fullmatch(name):
        raise InvalidQueueName(
            f"{name!r} is not a queue name: use up to 40 lower-case letters, digits, '-' or '_'."
        )
    return name


def route(queue: str, consumed: Collection[str]) -> str:
    """The queue a run of ``queue`` is handed to, given the queues live qclusters consume."""
    return queue if queue in consumed else DEFAULT_QUEUE
