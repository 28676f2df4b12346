import pytest
from django.urls import reverse

from tenants import owner_settings
from tenants.models import GLOBAL_OWNER_ID, Membership, Owner, OwnerSetting
from tests.builders import make_staff_user, make_superuser

pytestmark = pytest.mark.django_db


def owner_change_url(owner: Owner) -> str:
    return reverse("admin:tenants_owner_change", args=[owner.pk])


def settings_post(owner: Owner, own: dict[str, str] | None = None, **changes: str) -> dict:
    """The owner change form as the browser posts it untouched (every key shows its value in force, the
    owner's own ones ticked), with ``own`` ticked and set, and ``changes`` to the raw fields on top."""
    data = {
        "name": owner.name,
        "slug": owner.slug,
        "timezone": owner.timezone,
        "contact_email": owner.contact_email,
        "is_active": "on",
    }
    for key, resolved in owner_settings.resolve_all(owner.pk).items():
        if resolved.definition.kind == "bool":
            if resolved.value:
                data[f"setting__{key}"] = "on"
        else:
            data[f"setting__{key}"] = resolved.display
        if resolved.source == owner_settings.Source.OWNER:
            data[f"own__{key}"] = "on"
    for key, value in (own or {}).items():
        data[f"own__{key}"] = "on"
        data[f"setting__{key}"] = value
    return {**data, **changes}


def test_member_sees_only_their_owner_in_the_list(client, member, owner, other_owner):
    client.force_login(member)
    response = client.get(reverse("admin:tenants_owner_changelist"))
    assert response.status_code == 200
    assert owner.name in response.text
    assert other_owner.name not in response.text
    assert "Global" not in response.text


def test_outsider_gets_404_opening_another_owner_by_url(client, outsider, owner):
    client.force_login(outsider)
    assert client.get(owner_change_url(owner)).status_code == 404
    assert client.post(owner_change_url(owner), settings_post(owner)).status_code == 404
    assert client.get(reverse("admin:tenants_owner_history", args=[owner.pk])).status_code == 404


def test_outsider_cannot_see_the_global_owner(client, outsider):
    client.force_login(outsider)
    assert client.get(owner_change_url(Owner.objects.get(pk=GLOBAL_OWNER_ID))).status_code == 404


def test_missing_owner_is_also_404_so_existence_does_not_leak(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("admin:tenants_owner_change", args=[987654])).status_code == 404


def test_viewer_may_look_but_not_change(client, owner):
    viewer = make_staff_user(owner, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    response = client.get(owner_change_url(owner))
    assert response.status_code == 200
    assert 'name="_save"' not in response.text
    assert client.post(owner_change_url(owner), settings_post(owner)).status_code == 403


def test_staff_cannot_create_owners_but_superusers_can(client, member):
    client.force_login(member)
    assert client.get(reverse("admin:tenants_owner_add")).status_code == 403
    client.force_login(make_superuser())
    assert client.get(reverse("admin:tenants_owner_add")).status_code == 200


def test_superuser_sees_every_owner(client, owner, other_owner):
    client.force_login(make_superuser())
    response = client.get(reverse("admin:tenants_owner_changelist"))
    assert owner.name in response.text and other_owner.name in response.text


def test_the_change_page_offers_each_key_as_its_typed_input_with_what_it_inherits(client, member, owner):
    OwnerSetting.objects.create(owner_id=GLOBAL_OWNER_ID, key="BACKUP_SCHEDULE_FREQUENCY", value="weekly")
    OwnerSetting.objects.create(owner=owner, key="BACKUP_SCHEDULE_TIME", value="02:00")
    client.force_login(member)

    form = client.get(owner_change_url(owner)).context["adminform"].form
    page = client.get(owner_change_url(owner)).text

    assert 'type="time" name="setting__BACKUP_SCHEDULE_TIME" value="02:00"' in page
    assert form["own__BACKUP_SCHEDULE_TIME"].value() is True
    assert form["own__BACKUP_SCHEDULE_FREQUENCY"].value() is False
    assert '<select name="setting__BACKUP_SCHEDULE_FREQUENCY"' in page
    assert '<option value="weekly" selected>Weekly</option>' in page
    assert 'type="checkbox" name="setting__BACKUP_SCHEDULE_ENABLED"' in page
    assert 'type="number" name="setting__BACKUP_RETENTION_KEEP_LAST" value="7"' in page
    assert 'max="1000"' in page and 'min="1"' in page
    assert "Unticked, it inherits 21:00 (code default)." in page
    assert "Unticked, it inherits weekly (inherited from the global owner)." in page


def test_member_saves_a_valid_setting(client, member, owner):
    client.force_login(member)
    response = client.post(owner_change_url(owner), settings_post(owner, {"BACKUP_SCHEDULE_TIME": "6:45"}))
    assert response.status_code == 302
    assert owner.settings.get().value == "06:45"


def test_an_untouched_form_stores_nothing(client, member, owner):
    client.force_login(member)
    response = client.post(owner_change_url(owner), settings_post(owner))
    assert response.status_code == 302
    assert not owner.settings.exists()


def test_unticking_own_value_lets_the_owner_inherit_again(client, member, owner):
    OwnerSetting.objects.create(owner=owner, key="BACKUP_SCHEDULE_TIME", value="02:00")
    client.force_login(member)

    data = settings_post(owner, setting__BACKUP_SCHEDULE_TIME="21:00")
    del data["own__BACKUP_SCHEDULE_TIME"]
    response = client.post(owner_change_url(owner), data)

    assert response.status_code == 302
    assert not owner.settings.exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BACKUP_SCHEDULE_TIME", "25:00", "Enter a valid time."),
        ("BACKUP_SCHEDULE_FREQUENCY", "monthly", "Select a valid choice. monthly is not one of"),
        ("BACKUP_RETENTION_KEEP_LAST", "99999999999999999999", "less than or equal to 1000"),
        ("BACKUP_RETENTION_KEEP_LAST", "0", "greater than or equal to 1"),
        ("BILLING_OVERDUE_REMINDER_DAYS", "366", "less than or equal to 365"),
    ],
)
def test_invalid_setting_is_shown_on_its_field_and_nothing_is_saved(
    client, member, owner, key, value, message
):
    client.force_login(member)
    response = client.post(
        owner_change_url(owner), settings_post(owner, {"BACKUP_SCHEDULE_TIME": "01:00", key: value})
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[f"setting__{key}"])
    assert not owner.settings.exists()


def test_a_value_changed_without_ticking_own_is_refused_not_dropped(client, member, owner):
    client.force_login(member)
    response = client.post(
        owner_change_url(owner), settings_post(owner, setting__BACKUP_SCHEDULE_TIME="05:00")
    )

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["setting__BACKUP_SCHEDULE_TIME"]
    assert message == "Tick “own value” to set this for Acme; unticked, it inherits 21:00."
    assert not owner.settings.exists()


def test_own_value_ticked_without_a_value_is_refused(client, member, owner):
    client.force_login(member)
    response = client.post(owner_change_url(owner), settings_post(owner, {"BACKUP_RETENTION_KEEP_DAILY": ""}))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["setting__BACKUP_RETENTION_KEEP_DAILY"] == [
        "Enter a value, or untick “own value” to inherit it."
    ]


def test_a_yes_no_setting_is_a_checkbox_that_can_switch_off(client, member, owner):
    client.force_login(member)
    data = settings_post(owner, own__BACKUP_SCHEDULE_ENABLED="on")
    del data["setting__BACKUP_SCHEDULE_ENABLED"]  # an unticked checkbox sends nothing

    assert client.post(owner_change_url(owner), data).status_code == 302
    assert owner.settings.get(key="BACKUP_SCHEDULE_ENABLED").value == "false"


def test_a_viewer_sees_the_effective_settings_as_a_table_without_inputs(client, owner):
    OwnerSetting.objects.create(owner=owner, key="BACKUP_SCHEDULE_TIME", value="02:00")
    client.force_login(make_staff_user(owner, role=Membership.Role.VIEWER))

    text = client.get(owner_change_url(owner)).text

    assert "<code>BACKUP_SCHEDULE_TIME</code></td><td><strong>02:00</strong></td><td>own value" in text
    assert "<strong>true</strong></td><td>code default" in text
    assert 'name="setting__BACKUP_SCHEDULE_TIME"' not in text


def test_global_owner_cannot_be_deleted(client):
    client.force_login(make_superuser())
    url = reverse("admin:tenants_owner_delete", args=[GLOBAL_OWNER_ID])
    assert client.get(url).status_code == 403


def test_memberships_are_for_superusers_only(client, member):
    client.force_login(member)
    assert client.get(reverse("admin:tenants_membership_changelist")).status_code == 403


def test_a_superuser_gives_a_user_access_on_the_user_page_with_a_membership_and_no_permission_boxes(
    client, owner
):
    from django.contrib.auth import get_user_model

    newcomer = get_user_model().objects.create_user("newcomer")
    client.force_login(make_superuser())
    url = reverse("admin:auth_user_change", args=[newcomer.pk])

    page = client.get(url).text
    response = client.post(
        url,
        {
            "username": "newcomer",
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-owner": owner.pk,
            "memberships-0-role": "viewer",
        },
    )

    assert 'name="user_permissions"' not in page and 'name="groups"' not in page
    assert response.status_code == 302, response.content.decode()[:2000]
    newcomer.refresh_from_db()
    assert newcomer.is_staff and newcomer.has_perm("jobs.view_schedule")
    assert Membership.objects.get(user=newcomer).role == "viewer"
