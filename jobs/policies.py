"""Per-schedule policies: what to do when runs overlap, and when slots were missed while nothing ran."""

from django.db import models


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip the slot (recorded as a skipped run)"
    SKIP_AND_RETRY = "skip_and_retry", "Skip, then try again after the retry delay"
    QUEUE = "queue", "Queue behind the running one"
    ALLOW = "allow", "Run in parallel"
    REPLACE = "replace", "Cancel the running one, then start this one"


class MisfirePolicy(models.TextChoices):
    RUN_ONCE = "run_once", "Run once for all missed slots"
    SKIP = "skip", "Skip missed slots"
    CATCH_UP = "catch_up", "Run every missed slot (bounded)"
