"""``manage.py seed_demo``: demo owners, users and domain data, any number of times."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from demo.credentials import read_password
from tenants.models import Membership, Owner

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@override_settings(DEMO_ADMIN_PASSWORD="demo-password-from-env")
def test_seed_demo_is_idempotent_and_scopes_staff_to_their_owner():
    first = run("seed_demo")
    second = run("seed_demo")
    assert "created with the password from DEMO_ADMIN_PASSWORD" in first
    assert "demo-password-from-env" not in first
    assert "already exists" in second
    assert Owner.objects.filter(slug__in=["acme", "globex", "initech"]).count() == 3
    assert get_user_model().objects.get(username="admin").check_password("demo-password-from-env")
    assert list(
        Membership.objects.filter(user__username="acme-ops").values_list("owner__slug", flat=True)
    ) == ["acme"]
    assert Owner.objects.get(slug="acme").settings.get(key="BACKUP_SCHEDULE_TIME").value == "02:00"


def test_seed_demo_keeps_a_generated_password_in_a_file_only_its_owner_reads(settings, tmp_path):
    settings.DATA_DIR = tmp_path

    first = run("seed_demo")
    second = run("seed_demo")

    credentials = tmp_path / "demo-credentials.txt"
    password = read_password()
    assert f"its generated password is in {credentials}" in first and password not in first
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert credentials.read_text() == f"user: admin\npassword: {password}\n"
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert "already exists" in second and read_password() == password
