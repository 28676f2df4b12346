import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Owner

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_get_shows_value_and_source(owner):
    assert run("owner_settings", "get", owner.slug, "BACKUP_SCHEDULE_TIME") == (
        "BACKUP_SCHEDULE_TIME=21:00  (code default)\n"
    )


def test_set_then_get_as_json_by_id(owner):
    run("owner_settings", "set", str(owner.pk), "backup_schedule_frequency", "Weekly")
    payload = json.loads(run("owner_settings", "get", str(owner.pk), "--json"))
    assert payload["BACKUP_SCHEDULE_FREQUENCY"] == {"value": "weekly", "source": "own"}
    assert payload["BACKUP_SCHEDULE_TIME"] == {"value": "21:00", "source": "default"}


def test_unset_reports_the_inherited_value(owner):
    run("owner_settings", "set", "global", "BACKUP_SCHEDULE_TIME", "03:00")
    run("owner_settings", "set", owner.slug, "BACKUP_SCHEDULE_TIME", "04:00")
    output = run("owner_settings", "unset", owner.slug, "BACKUP_SCHEDULE_TIME")
    assert "now 03:00 (inherited from the global owner)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "acme", "BACKUP_SCHEDULE_TIME", "25:00"), "'25:00' is not a time of day"),
        (("set", "acme", "BACKUP_SCHEDULE_FREQUENCY", "monthly"), "'monthly' is not one of"),
        (("set", "acme", "BACKUP_SCHEDULE_ENABLED", "abc"), "'abc' is not a yes/no value"),
        (("set", "acme", "NO_SUCH_KEY", "1"), "Unknown setting 'NO_SUCH_KEY'"),
        (("get", "nobody"), "No owner with id or slug 'nobody'"),
        (("unset", "999", "BACKUP_SCHEDULE_TIME"), "No owner with id or slug '999'"),
    ],
)
def test_bad_input_is_a_one_line_command_error(args, message):
    Owner.objects.create(name="Acme", slug="acme")
    with pytest.raises(CommandError, match=message) as raised:
        run("owner_settings", *args)
    assert "\n" not in str(raised.value)
    assert not Owner.objects.get(slug="acme").settings.exists()


def test_bad_input_exits_with_code_1(capsys):
    with pytest.raises(SystemExit) as exited:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", "owner_settings", "get", "nobody"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == "CommandError: No owner with id or slug 'nobody'."
