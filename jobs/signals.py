"""What the engine announces, for the apps above it to act on; the engine itself sends no e-mail.

``run_failed`` is sent inside the transaction that records a run's final failure (failed, timed out or
lost, with no retry left), with ``run`` (the JobRun as recorded). A receiver's writes commit or roll back
with that failure; the notifications app listens and records the owner's e-mail in its outbox.

``housekeeping`` is sent by every dispatcher after each reaper pass (several times per heartbeat period)
with ``now``: apps clean up after dead processes here (backups reaps abandoned backup rows and aborts their
uploads). Receivers must be idempotent and quick; one that raises is logged and does not stop the
dispatcher.
"""

from django.dispatch import Signal

run_failed = Signal()
housekeeping = Signal()
