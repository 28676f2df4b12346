import logging
from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from inventory.models import LowStockAlert
from jobs.owner_sweep import SweepFailed, sweep_owners
from jobs.registry import JobContext, get_job
from tenants.models import GLOBAL_OWNER_ID, Owner
from tests.builders import make_owner
from tests.domain.builders import make_item, make_trial

pytestmark = pytest.mark.django_db


def context(job_name: str, now, owner_id: int = GLOBAL_OWNER_ID) -> JobContext:
    return JobContext(
        run_id=1,
        job_name=job_name,
        owner_id=owner_id,
        schedule_id=None,
        slot=now,
        attempt=1,
        logger=logging.getLogger(f"test.{job_name}"),
    )


def run_job(job_name: str, now, owner_id: int = GLOBAL_OWNER_ID) -> dict:
    with time_machine.travel(now, tick=False):
        return get_job(job_name).func(context(job_name, now, owner_id))


def break_time_zone(owner: Owner) -> None:
    """Data that slipped past validation (a raw import): this owner's step raises, the others must not."""
    Owner.objects.filter(pk=owner.pk).update(timezone="Mars/Olympus_Mons")


def test_low_stock_job_runs_every_six_hours():
    definition = get_job("alerts.low_stock")

    assert (definition.every, definition.cron, definition.per_owner) == (timedelta(hours=6), None, False)


def test_billing_job_runs_hourly_and_first_two_minutes_after_start():
    definition = get_job("billing.trials_and_payments")

    assert definition.every == timedelta(hours=1)
    assert (definition.run_on_start, definition.startup_delay) == (True, timedelta(minutes=2))


def test_low_stock_run_returns_counts_for_all_owners(owner, other_owner, now):
    make_item(owner, quantity=0, reorder_level=5)
    make_item(other_owner, quantity=1, reorder_level=5)
    make_item(other_owner, quantity=9, reorder_level=5)

    summary = run_job("alerts.low_stock", now)

    assert summary["owners"] == Owner.objects.exclude(pk=GLOBAL_OWNER_ID).count()
    assert (summary["owners_failed"], summary["alerts_opened"], summary["emails_sent"]) == (0, 2, 2)
    assert sorted(message.to[0] for message in mail.outbox) == ["ops@acme.test", "ops@globex.test"]


def test_one_failing_owner_does_not_stop_the_others(owner, other_owner, now):
    broken = make_owner("Broken Co", contact_email="ops@broken.test")
    for each in (owner, broken, other_owner):
        make_item(each, quantity=0, reorder_level=5)
    break_time_zone(broken)

    summary = run_job("alerts.low_stock", now)

    assert summary["owners_failed"] == 1
    assert summary["failures"][0]["owner_id"] == broken.pk
    assert "Mars/Olympus_Mons" in summary["failures"][0]["error"]
    assert set(LowStockAlert.objects.values_list("owner_id", flat=True)) == {owner.pk, other_owner.pk}
    assert sorted(message.to[0] for message in mail.outbox) == ["ops@acme.test", "ops@globex.test"]


def test_billing_run_isolates_a_failing_owner_too(owner, other_owner, now):
    broken = make_owner("Broken Co", contact_email="ops@broken.test")
    for each in (owner, broken, other_owner):
        make_trial(each, ends_at=now + timedelta(days=2))
    break_time_zone(broken)

    summary = run_job("billing.trials_and_payments", now)

    assert (summary["owners_failed"], summary["trial_notices"], summary["emails_sent"]) == (1, 2, 2)


def test_failed_owner_is_caught_up_by_the_next_run_once_fixed(owner, now):
    make_item(owner, quantity=0, reorder_level=5)
    break_time_zone(owner)
    with pytest.raises(SweepFailed):
        run_job("alerts.low_stock", now, owner_id=owner.pk)
    Owner.objects.filter(pk=owner.pk).update(timezone="Europe/London")

    summary = run_job("alerts.low_stock", now + timedelta(hours=6), owner_id=owner.pk)

    assert (summary["owners_failed"], summary["emails_sent"]) == (0, 1)


def test_a_run_where_every_owner_fails_is_a_failed_run(owner, now):
    break_time_zone(owner)

    with pytest.raises(SweepFailed, match="all 1 owners failed"):
        run_job("alerts.low_stock", now, owner_id=owner.pk)


def test_run_for_one_owners_schedule_touches_only_that_owner(owner, other_owner, now):
    make_item(owner, quantity=0, reorder_level=5)
    make_item(other_owner, quantity=0, reorder_level=5)

    summary = run_job("alerts.low_stock", now, owner_id=other_owner.pk)

    assert summary["owners"] == 1
    assert list(LowStockAlert.objects.values_list("owner_id", flat=True)) == [other_owner.pk]


def visit(visited: list[int]):
    def step(owners) -> dict:
        visited.extend(each.pk for each in owners)
        return {"visited": len(owners)}

    return step


def test_inactive_owners_and_the_global_owner_are_not_swept(owner, other_owner):
    Owner.objects.filter(pk=owner.pk).update(is_active=False)
    visited = []

    summary = sweep_owners(visit(visited), [owner.pk, other_owner.pk, GLOBAL_OWNER_ID])

    assert visited == [other_owner.pk]
    assert (summary["owners"], summary["visited"]) == (1, 1)


def test_owners_are_read_in_chunks_and_each_visited_once(now):
    created = [make_owner().pk for _ in range(7)]
    visited = []

    sweep_owners(visit(visited), [*created, *created[:3]], chunk_size=3)

    assert visited == sorted(created)
