"""Timeouts: the soft deadline always comes before django-q2's hard kill, and every run has one."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from backups.policy import BACKUP_TIMEOUT
from jobs.handoff import pack_task
from jobs.models import JobRun
from jobs.runner import run_queued
from jobs.timeouts import (
    HARD_TIMEOUT_MARGIN_SECONDS,
    hard_timeout_seconds,
    max_timeout_seconds,
    soft_timeout_seconds,
)
from tests.jobs.builders import T0, make_run, make_schedule


def test_the_hard_kill_comes_a_margin_after_the_soft_deadline_and_never_past_the_maximum(settings):
    settings.JOBS_MAX_TIMEOUT = 3600
    for timeout in (None, 1, 600, 3570, 3600, 10_000):
        soft, hard = soft_timeout_seconds(timeout), hard_timeout_seconds(timeout)
        assert hard == soft + HARD_TIMEOUT_MARGIN_SECONDS
        assert hard <= settings.JOBS_MAX_TIMEOUT


def test_a_run_without_a_timeout_gets_the_longest_soft_deadline(settings):
    settings.JOBS_MAX_TIMEOUT = 3600
    assert soft_timeout_seconds(None) == max_timeout_seconds() == 3600 - HARD_TIMEOUT_MARGIN_SECONDS


def test_backups_use_the_longest_soft_deadline_not_the_hard_limit(settings):
    assert timedelta(seconds=settings.JOBS_MAX_TIMEOUT - HARD_TIMEOUT_MARGIN_SECONDS) == BACKUP_TIMEOUT


@pytest.mark.django_db
def test_the_task_handed_to_django_q_carries_the_hard_limit(settings):
    settings.JOBS_MAX_TIMEOUT = 3600
    run = make_run(make_schedule(now=T0), task_id="abc")
    from django_q.signing import SignedPackage

    assert SignedPackage.loads(pack_task(run, 600))["timeout"] == 600 + HARD_TIMEOUT_MARGIN_SECONDS
    assert SignedPackage.loads(pack_task(run, None))["timeout"] == 3600


@pytest.mark.django_db
def test_a_run_without_a_timeout_times_out_at_the_longest_soft_deadline(settings):
    settings.JOBS_MAX_TIMEOUT = HARD_TIMEOUT_MARGIN_SECONDS + 1  # the longest soft deadline: 1 s
    slow = make_run(make_schedule("tests.sleep", now=T0, kwargs={"seconds": 30}), slot=T0)

    assert run_queued(slow.pk, worker="test-worker") == "timed_out"
    assert "exceeded its timeout of 1 s" in JobRun.objects.get(pk=slow.pk).error


@pytest.mark.django_db
def test_the_schedule_form_refuses_a_timeout_above_the_longest_soft_deadline(settings):
    schedule = make_schedule(now=T0)
    schedule.timeout_seconds = max_timeout_seconds() + 1
    with pytest.raises(ValidationError) as refused:
        schedule.full_clean(exclude=["owner"])
    assert "timeout_seconds" in refused.value.message_dict
    schedule.timeout_seconds = max_timeout_seconds()
    schedule.full_clean(exclude=["owner"])
