"""Restoring from the admin: a tenant admin restores their owner's export over the live rows (after a safety
backup) and nothing else; only superusers name a target database, which is checked before anything runs."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse

from backups.engines import Database, postgres, sqlite
from backups.models import Backup
from backups.services import take_backup
from inventory.models import StockItem
from tests.backups.builders import use_file_storage
from tests.builders import make_staff_user, make_superuser

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


@pytest.fixture
def export(owner) -> Backup:
    StockItem.objects.create(owner=owner, sku="KEEP", name="kept", quantity=3)
    return take_backup(owner_id=owner.pk).backup


def restore_url(backup: Backup) -> str:
    return reverse("admin:backups_backup_restore", args=[backup.pk])


def server_details() -> list[str]:
    live = connection.settings_dict
    return [str(django_settings.DATA_DIR), str(live["NAME"]), str(django_settings.BASE_DIR)]


def test_a_tenant_admin_restores_their_owners_export_over_the_live_rows_after_a_safety_backup(
    client, member, owner, export
):
    StockItem.objects.create(owner=owner, sku="LATER", name="added after the backup", quantity=1)
    client.force_login(member)

    confirmation = client.get(restore_url(export))
    response = client.post(restore_url(export), {"confirm": "on"}, follow=True)

    safety = Backup.objects.filter(owner=owner).exclude(pk=export.pk).get()
    assert 'name="target_db_url"' not in confirmation.text
    assert "a safety backup of Acme's live rows is" in " ".join(confirmation.text.split())
    assert "restored into the live database" in response.text
    assert f"safety backup #{safety.pk}" in response.text
    assert safety.status == Backup.Status.VERIFIED and safety.started_at > export.started_at
    assert list(StockItem.objects.filter(owner=owner).values_list("sku", flat=True)) == ["KEEP"]
    assert not any(detail in response.text for detail in server_details())


def test_a_tenant_admin_may_not_name_a_target_database(client, member, export, tmp_path):
    target = tmp_path / "created-by-a-tenant.sqlite3"
    client.force_login(member)

    response = client.post(restore_url(export), {"confirm": "on", "target_db_url": f"sqlite:///{target}"})

    assert response.status_code == 403
    assert not target.exists()
    assert Backup.objects.count() == 1  # no safety backup either: nothing was started


def test_a_viewer_may_not_restore(client, owner, export):
    client.force_login(make_staff_user(owner, role="viewer"))

    assert client.get(restore_url(export)).status_code == 403
    assert client.post(restore_url(export), {"confirm": "on"}).status_code == 403
    assert Backup.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("garbage", "starts with postgres:// or sqlite:///"),
        ("mysql://db.example.com/app", "starts with postgres:// or sqlite:///"),
        ("postgres:///app", "Name the database server"),
        ("postgres://db.example.com/", "Name the database"),
        ("postgres://db.example.com:99999/app", "port"),
        ("postgres://db.example.com:port/app", "port"),
        ("postgres://db_example!/app", "not a host name or an IP address"),
        ("postgres://db.example.com/app;drop", "database name may hold"),
        ("postgres://db.example.com/app?options=-c", "only option understood is sslmode"),
        ("sqlite:///relative.sqlite3", "absolute path with four slashes"),
        ("sqlite:////no/such/directory/copy.sqlite3", "directory of the SQLite target does not exist"),
        ("sqlite:////tmp", "exists and is not a file"),
    ],
)
def test_a_malformed_target_is_a_form_error_and_nothing_runs(client, export, url, message):
    client.force_login(make_superuser())

    response = client.post(restore_url(export), {"confirm": "on", "target_db_url": url})

    assert response.status_code == 200
    assert message in response.text
    assert Backup.objects.count() == 1


def test_a_password_in_a_malformed_url_is_not_echoed(client, export):
    client.force_login(make_superuser())

    response = client.post(
        restore_url(export), {"confirm": "on", "target_db_url": "postgres://u:s3cret@bad host/x"}
    )

    assert response.status_code == 200 and "s3cret" not in response.text


def test_a_target_that_cannot_be_restored_into_is_a_form_error_without_server_details(
    client, export, tmp_path
):
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not sqlite")
    target = (
        f"sqlite:///{not_a_database}"
        if connection.vendor == "sqlite"
        else "postgres://postgres@127.0.0.1:1/x"
    )
    client.force_login(make_superuser())

    response = client.post(restore_url(export), {"confirm": "on", "target_db_url": target})

    assert response.status_code == 200
    assert "errornote" in response.text or "errorlist" in response.text
    assert not_a_database.read_text() == "not sqlite"
    assert not any(detail in response.text for detail in server_details())


def test_a_superuser_restores_a_full_backup_into_a_scratch_database(client, global_owner, tmp_path):
    full = take_backup(owner_id=global_owner.pk).backup
    live = Database.live()
    if live.vendor == "sqlite":
        scratch = Database(vendor="sqlite", name=str(tmp_path / "scratch.sqlite3"))
        url = f"sqlite:///{scratch.name}"
    else:
        scratch = live.with_name(f"{live.name}_scratch")
        url = f"postgres://{live.user}@{live.host or '127.0.0.1'}:{live.port or 5432}/{scratch.name}"
    client.force_login(make_superuser())

    try:
        response = client.post(restore_url(full), {"confirm": "on", "target_db_url": url}, follow=True)
        counts = (
            sqlite.table_row_counts(Path(scratch.name))
            if live.vendor == "sqlite"
            else postgres.table_row_counts(scratch)
        )
    finally:
        if live.vendor == "postgresql":
            postgres.drop_database(scratch)

    assert f"Backup #{full.pk} restored into" in response.text
    assert scratch.name in response.text  # the superuser's own target, named back to them
    migrations = next(count for table, count in counts.items() if table.endswith("django_migrations"))
    assert migrations > 10


def test_a_full_backup_never_goes_over_the_live_database_from_the_admin(client, global_owner):
    full = take_backup(owner_id=global_owner.pk).backup
    client.force_login(make_superuser())

    response = client.post(restore_url(full), {"confirm": "on"})

    assert response.status_code == 200
    assert "Only an owner&#x27;s export can be restored over the live database here" in response.text
    assert Backup.objects.count() == 1
