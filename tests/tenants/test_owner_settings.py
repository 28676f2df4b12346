from datetime import time

import pytest
from django.test import override_settings

from tenants import owner_settings, setting_keys
from tenants.models import GLOBAL_OWNER_ID
from tenants.owner_settings import Source
from tenants.setting_keys import SettingDefinition, SettingValueError, UnknownSettingError

pytestmark = pytest.mark.django_db


def test_code_default_applies_when_nothing_is_stored(owner):
    resolved = owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_TIME")
    assert (resolved.value, resolved.source) == (time(21, 0), Source.DEFAULT)


def test_django_setting_overrides_the_code_default(owner):
    with override_settings(BACKUP_SCHEDULE_TIME="03:15"):
        resolved = owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_TIME")
    assert (resolved.value, resolved.source) == (time(3, 15), Source.SETTING)


def test_global_owner_value_overrides_the_django_setting(owner):
    owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_TIME", "04:00")
    with override_settings(BACKUP_SCHEDULE_TIME="03:15"):
        resolved = owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_TIME")
    assert (resolved.value, resolved.source) == (time(4, 0), Source.GLOBAL)


def test_own_value_overrides_everything(owner):
    owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_TIME", "04:00")
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", "05:30")
    with override_settings(BACKUP_SCHEDULE_TIME="03:15"):
        resolved = owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_TIME")
    assert (resolved.value, resolved.source) == (time(5, 30), Source.OWNER)


def test_unset_makes_the_owner_inherit_again(owner):
    owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_FREQUENCY", "weekly")
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_FREQUENCY", "daily")
    assert owner_settings.unset(owner.pk, "BACKUP_SCHEDULE_FREQUENCY") is True
    assert owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_FREQUENCY").source == Source.GLOBAL
    assert owner_settings.unset(owner.pk, "BACKUP_SCHEDULE_FREQUENCY") is False


def test_global_owner_sees_its_own_values_as_own():
    owner_settings.set_value(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_ENABLED", "false")
    resolved = owner_settings.resolve(GLOBAL_OWNER_ID, "BACKUP_SCHEDULE_ENABLED")
    assert (resolved.value, resolved.source) == (False, Source.OWNER)


def test_one_owners_values_never_leak_to_another(owner, other_owner):
    owner_settings.set_value(owner.pk, "BACKUP_RETENTION_KEEP_LAST", "30")
    assert owner_settings.get(other_owner.pk, "BACKUP_RETENTION_KEEP_LAST") == 7


def test_resolving_every_key_takes_one_query(owner, django_assert_num_queries):
    with django_assert_num_queries(1):
        resolved = owner_settings.resolve_all(owner.pk)
    assert set(resolved) == {item.key for item in setting_keys.definitions()}


def test_values_are_stored_in_canonical_form(owner):
    owner_settings.set_value(owner.pk, "backup_schedule_time", " 7:05 ")
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_ENABLED", "Yes")
    owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_FREQUENCY", "WEEKLY")
    stored = dict(owner.settings.values_list("key", "value"))
    assert stored == {
        "BACKUP_SCHEDULE_TIME": "07:05",
        "BACKUP_SCHEDULE_ENABLED": "true",
        "BACKUP_SCHEDULE_FREQUENCY": "weekly",
    }


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("BACKUP_SCHEDULE_TIME", "25:00", "not a time of day as HH:MM"),
        ("BACKUP_SCHEDULE_TIME", "21:60", "not a time of day as HH:MM"),
        ("BACKUP_SCHEDULE_TIME", "9pm", "not a time of day as HH:MM"),
        ("BACKUP_SCHEDULE_TIME", "", "not a time of day as HH:MM"),
        ("BACKUP_SCHEDULE_FREQUENCY", "monthly", "not one of: daily, weekly"),
        ("BACKUP_SCHEDULE_WEEKDAY", "someday", "not one of: monday"),
        ("BACKUP_SCHEDULE_ENABLED", "abc", "not a yes/no value"),
        ("BACKUP_RETENTION_KEEP_LAST", "abc", "not a whole number"),
        ("BACKUP_RETENTION_KEEP_LAST", "0", "below the minimum of 1"),
        ("BACKUP_RETENTION_KEEP_DAILY", "-1", "below the minimum of 0"),
    ],
)
def test_invalid_values_are_rejected_and_nothing_is_stored(owner, key, raw, message):
    with pytest.raises(SettingValueError, match=message):
        owner_settings.set_value(owner.pk, key, raw)
    assert not owner.settings.exists()


def test_unknown_key_is_rejected_with_the_known_keys(owner):
    with pytest.raises(UnknownSettingError, match="BACKUP_SCHEDULE_TIME"):
        owner_settings.set_value(owner.pk, "BACKUP_TIME", "21:00")


def test_invalid_stored_value_falls_back_instead_of_breaking_readers(owner):
    owner.settings.create(key="BACKUP_SCHEDULE_FREQUENCY", value="fortnightly")
    assert owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_FREQUENCY").source == Source.DEFAULT


def test_an_environment_variable_of_the_key_s_name_replaces_the_code_default(owner, monkeypatch):
    monkeypatch.setenv("BACKUP_RETENTION_KEEP_LAST", "12")

    resolved = owner_settings.resolve(owner.pk, "BACKUP_RETENTION_KEEP_LAST")

    assert (resolved.value, resolved.source) == (12, Source.SETTING)


def test_a_django_setting_of_the_key_s_name_wins_over_the_environment(owner, monkeypatch):
    monkeypatch.setenv("BACKUP_SCHEDULE_TIME", "01:45")

    with override_settings(BACKUP_SCHEDULE_TIME="03:15"):
        resolved = owner_settings.resolve(owner.pk, "BACKUP_SCHEDULE_TIME")

    assert resolved.value == time(3, 15)


def test_a_newly_registered_key_is_read_from_the_environment_without_being_listed_anywhere(
    owner, monkeypatch
):
    new_key = SettingDefinition("TESTS_NEWLY_REGISTERED_LIMIT", "int", 5, "A key for this test only.")
    monkeypatch.setitem(setting_keys._REGISTRY, new_key.key, new_key)  # gone again after the test
    setting_keys.register(new_key)
    monkeypatch.setenv("TESTS_NEWLY_REGISTERED_LIMIT", "9")

    assert owner_settings.get(owner.pk, "TESTS_NEWLY_REGISTERED_LIMIT") == 9


def test_each_app_registers_its_own_keys():
    groups = {item.key: item.group for item in setting_keys.definitions()}

    assert groups["BACKUP_SCHEDULE_TIME"] == "backup"
    assert groups["ALERTS_LOW_STOCK_EMAIL_ENABLED"] == "alerts"
    assert groups["BILLING_OVERDUE_REMINDER_DAYS"] == "billing"


def test_changes_are_announced_after_commit(owner, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, owner_id, key, **kwargs):
        heard.append((owner_id, key))

    owner_settings.owner_setting_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            owner_settings.set_value(owner.pk, "BACKUP_SCHEDULE_TIME", "01:00")
            assert heard == []
        with django_capture_on_commit_callbacks(execute=True):
            owner_settings.unset(owner.pk, "BACKUP_SCHEDULE_TIME")
    finally:
        owner_settings.owner_setting_changed.disconnect(listener)
    assert heard == [(owner.pk, "BACKUP_SCHEDULE_TIME"), (owner.pk, "BACKUP_SCHEDULE_TIME")]
