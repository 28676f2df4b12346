"""The domain jobs through the engine's real runner: the summary lands on the JobRun."""

from datetime import timedelta

import pytest
import time_machine

from jobs.models import JobRun
from jobs.runner import run_queued
from tenants.models import GLOBAL_OWNER_ID, Owner
from tests.builders import make_owner
from tests.domain.builders import make_item, make_trial

pytestmark = pytest.mark.django_db


def queued_run(job_name: str, now) -> JobRun:
    return JobRun.objects.create(
        job_name=job_name, owner_id=GLOBAL_OWNER_ID, slot=now, due_at=now, status=JobRun.Status.QUEUED
    )


def test_low_stock_run_stores_its_counts_and_owner_failures_on_the_run(owner, now):
    broken = make_owner("Broken Co", contact_email="ops@broken.test")
    make_item(owner, quantity=0, reorder_level=5)
    make_item(broken, quantity=0, reorder_level=5)
    Owner.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")
    run = queued_run("alerts.low_stock", now)

    with time_machine.travel(now, tick=False):
        status = run_queued(run.pk, worker="test")

    run.refresh_from_db()
    assert status == JobRun.Status.SUCCEEDED
    assert run.result["alerts_opened"] == 1
    assert run.result["emails_sent"] == 1
    assert run.result["owners_failed"] == 1
    assert run.result["failures"][0]["owner_id"] == broken.pk


def test_billing_run_where_every_owner_fails_is_recorded_failed(now):
    Owner.objects.exclude(pk=GLOBAL_OWNER_ID).update(is_active=False)
    broken = make_owner("Broken Co", contact_email="ops@broken.test")
    make_trial(broken, ends_at=now + timedelta(days=2))
    Owner.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")
    run = queued_run("billing.trials_and_payments", now)

    with time_machine.travel(now, tick=False):
        status = run_queued(run.pk, worker="test")

    run.refresh_from_db()
    assert status == JobRun.Status.FAILED
    assert "all 1 owners failed" in run.error
