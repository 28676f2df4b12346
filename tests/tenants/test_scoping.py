import pytest

from jobs.models import Schedule
from tenants.models import Membership
from tenants.scoping import editable_owner_ids, scope_queryset, visible_owner_ids
from tests.builders import make_staff_user, make_superuser

pytestmark = pytest.mark.django_db


def test_rows_are_scoped_through_the_owner_lookup(owner, other_owner, member):
    mine = Schedule.objects.create(job_name="demo.job", owner=owner, cron_expression="0 21 * * *")
    Schedule.objects.create(job_name="demo.job", owner=other_owner, cron_expression="0 21 * * *")
    assert list(scope_queryset(Schedule.objects.all(), member, "owner")) == [mine]


def test_superuser_is_not_scoped(owner, other_owner):
    assert visible_owner_ids(make_superuser()) is None


def test_inactive_user_sees_nothing(member, owner):
    member.is_active = False
    assert visible_owner_ids(member) == set()


def test_viewer_sees_but_cannot_edit(owner):
    viewer = make_staff_user(owner, role=Membership.Role.VIEWER)
    assert visible_owner_ids(viewer) == {owner.pk}
    assert editable_owner_ids(viewer) == set()
