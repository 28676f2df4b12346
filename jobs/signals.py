"""Signals the engine sends; other apps listen without the engine knowing them."""

from django.dispatch import Signal

# Sent by every dispatcher after each reaper pass (several times per heartbeat period) with ``now``: apps
# clean up after dead processes here (backups reaps abandoned backup rows and aborts their uploads).
# Receivers must be idempotent and quick; one that raises is logged and does not stop the dispatcher.
housekeeping = Signal()
