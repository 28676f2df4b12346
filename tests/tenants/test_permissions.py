"""Roles are the permissions: what a membership grants, and that nothing else grants more."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse

from tenants.models import Membership, OwnerSetting
from tests.builders import make_staff_user, make_staff_user_with_every_permission, make_superuser
from tests.jobs.builders import make_schedule

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as the next request loads it (permissions are cached per user object)."""
    return get_user_model().objects.get(pk=user.pk)


def test_an_admin_membership_grants_view_add_change_delete_and_run_on_owner_scoped_models(owner):
    member = make_staff_user(owner)

    for action in ("view", "add", "change", "delete", "run"):
        assert member.has_perm(f"jobs.{action}_schedule")
        assert member.has_perm(f"backups.{action}_backup")
    assert member.has_module_perms("jobs") and member.has_module_perms("billing")


def test_a_viewer_membership_grants_view_only(owner):
    viewer = make_staff_user(owner, role=Membership.Role.VIEWER)

    assert viewer.has_perm("jobs.view_schedule")
    assert not any(
        viewer.has_perm(f"jobs.{action}_schedule") for action in ("add", "change", "delete", "run")
    )


def test_no_membership_grants_nothing(db):
    assert make_staff_user().get_all_permissions() == set()


def test_memberships_grant_nothing_on_accounts_memberships_or_job_switches(owner):
    member = make_staff_user(owner)

    for permission in (
        "auth.change_user",
        "auth.view_user",
        "tenants.add_membership",
        "jobs.change_jobswitch",
    ):
        assert not member.has_perm(permission)
    assert not member.has_module_perms("auth") and not member.has_module_perms("django_q")


def test_an_object_permission_holds_for_rows_of_the_members_owners_only(owner, other_owner):
    member = make_staff_user(owner)
    mine = make_schedule(owner_id=owner.pk, cron_expression="0 21 * * *")
    theirs = make_schedule(owner_id=other_owner.pk, cron_expression="0 21 * * *")

    assert member.has_perm("jobs.change_schedule", mine)
    assert not member.has_perm("jobs.view_schedule", theirs)


def test_a_member_who_is_not_staff_or_not_active_holds_nothing(owner):
    not_staff, inactive = make_staff_user(owner), make_staff_user(owner)
    get_user_model().objects.filter(pk=not_staff.pk).update(is_staff=False)
    get_user_model().objects.filter(pk=inactive.pk).update(is_active=False)

    assert fresh(not_staff).get_all_permissions() == set()
    assert fresh(inactive).get_all_permissions() == set()


def test_with_perm_finds_the_members_whose_role_allows_it(owner, other_owner):
    admin_member = make_staff_user(owner)
    viewer = make_staff_user(owner, role=Membership.Role.VIEWER)
    outsider = make_staff_user(other_owner)
    mine = make_schedule(owner_id=owner.pk, cron_expression="0 21 * * *")

    changers = get_user_model().objects.with_perm("jobs.change_schedule", include_superusers=False, obj=mine)
    viewers = get_user_model().objects.with_perm("jobs.view_schedule", include_superusers=False)

    assert list(changers) == [admin_member]
    assert set(viewers) == {admin_member, viewer, outsider}


def test_the_backend_still_logs_in_with_username_and_password(owner):
    member = make_staff_user(owner, username="alice")

    assert authenticate(username="alice", password="pw-for-tests-only") == member
    assert authenticate(username="alice", password="wrong") is None


# --- Escalation: stored permissions and groups add nothing ----------------------------------------


def test_every_stored_permission_adds_nothing_to_a_viewers_role(owner):
    viewer = make_staff_user_with_every_permission(owner, role=Membership.Role.VIEWER)

    assert viewer.user_permissions.exists() and viewer.groups.exists()
    assert all(permission.split(".")[1].startswith("view_") for permission in viewer.get_all_permissions())
    assert not viewer.has_perm("auth.change_user")


def test_staff_holding_every_permission_cannot_make_themselves_superuser_or_change_their_access(
    client, owner
):
    user = make_staff_user_with_every_permission(owner)
    client.force_login(user)
    url = reverse("admin:auth_user_change", args=[user.pk])

    page = client.get(url)
    posted = client.post(
        url,
        {
            "username": user.username,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "user_permissions": [],
        },
    )
    password = client.get(reverse("admin:auth_user_password_change", args=[user.pk]))

    assert (page.status_code, posted.status_code, password.status_code) == (403, 403, 403)
    user.refresh_from_db()
    assert not user.is_superuser


def test_staff_holding_every_permission_see_no_other_users_by_list_search_or_autocomplete(
    client, owner, other_owner
):
    user = make_staff_user_with_every_permission(owner)
    make_staff_user(other_owner, username="globex-ops")
    client.force_login(user)

    listing = client.get(reverse("admin:auth_user_changelist"), {"q": "globex"})
    completed = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "tenants", "model_name": "membership", "field_name": "user", "term": "glo"},
    )

    assert (listing.status_code, completed.status_code) == (403, 403)
    assert "globex-ops" not in listing.text + completed.text


def test_staff_holding_every_permission_cannot_grant_memberships_through_the_owner_page(client, owner):
    user = make_staff_user_with_every_permission(owner)
    newcomer = make_staff_user()
    client.force_login(user)
    form = client.get(reverse("admin:tenants_owner_change", args=[owner.pk])).text

    client.post(
        reverse("admin:tenants_owner_change", args=[owner.pk]),
        {
            "name": owner.name,
            "slug": owner.slug,
            "timezone": owner.timezone,
            "contact_email": owner.contact_email,
            "is_active": "on",
            "settings-TOTAL_FORMS": "0",
            "settings-INITIAL_FORMS": "0",
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": "admin",
            "memberships-1-user": user.pk,
            "memberships-1-role": "admin",
        },
    )

    assert "memberships-TOTAL_FORMS" not in form
    assert not Membership.objects.filter(user=newcomer).exists()
    assert Membership.objects.filter(user=user).count() == 1


def test_staff_holding_every_permission_but_no_membership_see_no_rows_and_add_none(client, owner):
    make_schedule(owner_id=owner.pk, cron_expression="0 21 * * *")
    user = make_staff_user_with_every_permission()
    client.force_login(user)

    listing = client.get(reverse("admin:jobs_schedule_changelist"))
    adding = client.get(reverse("admin:jobs_schedule_add"))

    assert listing.status_code == 403 and adding.status_code == 403


def test_a_viewer_holding_every_permission_still_cannot_change_the_owners_settings(client, owner):
    viewer = make_staff_user_with_every_permission(owner, role=Membership.Role.VIEWER)
    client.force_login(viewer)

    response = client.post(
        reverse("admin:tenants_owner_change", args=[owner.pk]),
        {
            "name": "Renamed",
            "slug": owner.slug,
            "timezone": owner.timezone,
            "own__BACKUP_SCHEDULE_TIME": "on",
            "setting__BACKUP_SCHEDULE_TIME": "02:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.name == "Acme" and not OwnerSetting.objects.filter(owner=owner).exists()


def test_a_superuser_keeps_every_permission(db):
    superuser = make_superuser()

    assert superuser.has_perm("auth.change_user") and superuser.has_perm("jobs.run_schedule")
    assert fresh(superuser).has_module_perms("django_q")
