"""The owner sweep: chunks of owners, one owner's failure isolated, one setting read for many owners."""

import pytest

from jobs.owner_sweep import SweepFailed, setting_for_owners, sweep_owners
from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Owner
from tests.builders import make_owner

pytestmark = pytest.mark.django_db


class Recorder:
    """A chunk step that notes the chunks it was called with and raises for the owners named ``broken``."""

    def __init__(self, broken: set[int] = frozenset()) -> None:
        self.broken = broken
        self.calls: list[list[int]] = []

    def __call__(self, owners: list[Owner]) -> dict[str, int]:
        ids = [owner.pk for owner in owners]
        self.calls.append(ids)
        if self.broken & set(ids):
            raise RuntimeError(f"cannot check {sorted(self.broken & set(ids))}")
        return {"checked": len(ids)}


def test_the_step_sees_each_chunk_of_owners_once_when_nothing_fails():
    ids = [make_owner().pk for _ in range(5)]
    step = Recorder()

    summary = sweep_owners(step, ids, chunk_size=2)

    assert step.calls == [ids[0:2], ids[2:4], ids[4:5]]
    assert (summary["owners"], summary["checked"], summary["owners_failed"]) == (5, 5, 0)


def test_an_owner_that_breaks_its_chunk_fails_alone_and_the_rest_of_the_chunk_is_done():
    ids = [make_owner().pk for _ in range(4)]
    step = Recorder(broken={ids[1]})

    summary = sweep_owners(step, ids, chunk_size=4)

    assert step.calls == [ids, [ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    assert (summary["owners"], summary["checked"], summary["owners_failed"]) == (4, 3, 1)
    assert summary["failures"] == [{"owner_id": ids[1], "error": f"RuntimeError: cannot check [{ids[1]}]"}]


def test_an_owner_with_a_broken_time_zone_fails_before_its_chunk_runs():
    fine, broken = make_owner(), make_owner()
    Owner.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")
    step = Recorder()

    summary = sweep_owners(step, [fine.pk, broken.pk])

    assert step.calls == [[fine.pk]]
    assert summary["owners_failed"] == 1
    assert "Mars/Olympus_Mons" in summary["failures"][0]["error"]


def test_a_sweep_where_every_owner_fails_raises():
    ids = [make_owner().pk for _ in range(2)]

    with pytest.raises(SweepFailed, match="all 2 owners failed"):
        sweep_owners(Recorder(broken=set(ids)), ids)


def test_a_sweep_with_no_owners_to_check_succeeds_with_nothing_done():
    step = Recorder()

    summary = sweep_owners(step, [])

    assert step.calls == []
    assert summary == {"owners": 0, "owners_failed": 0, "failures": []}


def test_setting_for_owners_gives_each_owner_its_own_value_or_the_inherited_one():
    own, inheriting = make_owner(), make_owner()
    owner_settings.set_value(GLOBAL_OWNER_ID, "BILLING_OVERDUE_REMINDER_DAYS", "10")
    owner_settings.set_value(own.pk, "BILLING_OVERDUE_REMINDER_DAYS", "3")

    values = setting_for_owners("BILLING_OVERDUE_REMINDER_DAYS", [own.pk, inheriting.pk], chunk_size=1)

    assert values == {own.pk: 3, inheriting.pk: 10}
    assert values == {
        owner_id: owner_settings.get(owner_id, "BILLING_OVERDUE_REMINDER_DAYS") for owner_id in values
    }
