"""Tenant export: one owner's rows, portable JSON lines with a manifest, restored in one transaction."""

import hashlib
import io
import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard
from django.apps import apps

from backups.engines import Database, postgres, tenant_export
from backups.errors import RestoreRefused
from backups.pipeline import create_backup, restore_backup, verify_backup
from backups.restore import database_alias
from tenants.models import Membership, OwnerSetting
from tests.builders import make_staff_user


def stock_item(owner, sku: str, quantity: int = 5):
    return apps.get_model("inventory", "StockItem").objects.create(
        owner=owner, sku=sku, name=f"Item {sku}", quantity=quantity, reorder_level=2
    )


def invoice(owner, number: str, amount: str = "12.50"):
    return apps.get_model("billing", "Invoice").objects.create(
        owner=owner, number=number, amount=Decimal(amount), due_date=date(2026, 12, 1)
    )


def owner_rows(owner, using: str = "default") -> dict[str, list]:
    """Every scoped row of ``owner`` as comparable values, keyed by model label."""
    return {
        item.label: sorted(
            (tuple(row.values()) for row in item.rows(owner.pk, using).values()), key=lambda values: values[0]
        )
        for item in tenant_export.owner_scoped_models()
    }


def read_export(file_storage, artifact) -> list[dict]:
    with file_storage.open(artifact.storage_key, "rb") as stored:
        raw = zstandard.ZstdDecompressor().stream_reader(stored).read()
    return [json.loads(line) for line in io.BytesIO(raw)]


@pytest.fixture
def other_database_url(tmp_path):
    """A second database of the same vendor (created by the restore, removed afterwards)."""
    live = Database.live()
    if live.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'other.sqlite3'}"
        return
    other = live.with_name(f"{live.name}_other_{uuid.uuid4().hex[:8]}")
    yield f"postgres://{live.user or 'postgres'}@{live.host or '127.0.0.1'}:{live.port or 5432}/{other.name}"
    postgres.drop_database(other)


@pytest.fixture
def populated(owner, other_owner):
    for who, prefix in ((owner, "A"), (other_owner, "B")):
        OwnerSetting.objects.create(owner=who, key="BACKUP_RETENTION_KEEP_LAST", value="7")
        for number in range(3):
            stock_item(who, f"{prefix}-{number}", quantity=number)
            invoice(who, f"{prefix}-INV-{number}", amount=f"{number}.99")
    return owner, other_owner


def test_discovery_includes_owner_scoped_domain_models_and_skips_engine_bookkeeping():
    labels = {item.label for item in tenant_export.owner_scoped_models()}

    assert {
        "tenants.ownersetting",
        "inventory.stockitem",
        "billing.invoice",
        "billing.subscription",
    } <= labels
    assert not labels & {"jobs.schedule", "jobs.jobrun", "backups.backup", "tenants.membership"}


def test_discovery_orders_parents_before_children():
    order = [item.label for item in tenant_export.owner_scoped_models()]

    assert order.index("inventory.stockitem") < order.index("inventory.lowstockalert")
    assert order.index("billing.subscription") < order.index("billing.invoice")


def test_export_holds_only_the_owners_rows_with_a_manifest(populated, file_storage):
    owner, _ = populated

    artifact = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)

    lines = read_export(file_storage, artifact)
    header, rows, manifest = lines[0], lines[1:-1], lines[-1]
    assert (artifact.engine, artifact.format) == ("tenant_export", "jsonl-manifest-v1")
    assert header["kind"] == "header" and header["owner"]["pk"] == owner.pk
    assert {row["fields"]["owner"] for row in rows if "owner" in row["fields"]} == {owner.pk}
    assert manifest["models"]["inventory.stockitem"]["count"] == 3
    assert manifest["models"]["billing.invoice"]["count"] == 3
    assert manifest["records"] == len(rows) == 7


def test_export_leaves_out_memberships(populated, file_storage):
    owner, _ = populated
    make_staff_user(owner)

    artifact = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)

    assert Membership.objects.filter(owner=owner).exists()
    assert all(row.get("model") != "tenants.membership" for row in read_export(file_storage, artifact))


def test_verify_checks_manifest_and_trial_restore(populated, file_storage):
    owner, _ = populated
    artifact = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)

    report = verify_backup(artifact=artifact, storage=file_storage, restore=True)

    assert report.ok, report.error
    assert report.row_counts["inventory.stockitem"] == 3
    assert owner_rows(owner)["inventory.stockitem"]  # the trial restore was rolled back, rows are still there


def test_restore_replaces_the_owners_rows_and_leaves_other_owners_untouched(populated, file_storage):
    owner, other_owner = populated
    before, other_before = owner_rows(owner), owner_rows(other_owner)
    artifact = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)
    apps.get_model("inventory", "StockItem").objects.filter(owner=owner, sku="A-0").delete()
    stock_item(owner, "A-new")
    apps.get_model("billing", "Invoice").objects.filter(owner=owner).update(amount=Decimal("999.00"))

    report = restore_backup(artifact=artifact, storage=file_storage, force=True)

    assert owner_rows(owner) == before
    assert owner_rows(other_owner) == other_before
    assert report.row_counts["billing.invoice"] == 3


def test_restore_into_the_live_database_needs_force(populated, file_storage):
    owner, _ = populated
    artifact = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)

    with pytest.raises(RestoreRefused, match="live database"):
        restore_backup(artifact=artifact, storage=file_storage)


def test_a_tampered_export_fails_verification_and_restores_nothing(populated, file_storage):
    owner, _ = populated
    artifact = create_backup(
        owner_id=owner.pk, storage_key="owner/export.jsonl", storage=file_storage, codec="none"
    )
    path = Path(file_storage.path(artifact.storage_key))
    tampered = path.read_bytes().replace(b'"quantity":1', b'"quantity":7')
    path.write_bytes(tampered)
    # Recorded as if stored like this, so only the manifest can tell.
    artifact.size, artifact.sha256 = len(tampered), hashlib.sha256(tampered).hexdigest()
    before = owner_rows(owner)

    report = verify_backup(artifact=artifact, storage=file_storage)

    assert not report.ok
    assert "manifest checksum" in report.error
    with pytest.raises(Exception, match="manifest checksum"):
        restore_backup(artifact=artifact, storage=file_storage, force=True)
    assert owner_rows(owner) == before


@pytest.mark.django_db(transaction=True)
def test_restore_into_another_database_replaces_only_that_owners_rows(
    populated, file_storage, other_database_url
):
    owner, other_owner = populated
    before, other_before = owner_rows(owner), owner_rows(other_owner)
    export = create_backup(owner_id=owner.pk, storage_key="owner/export.jsonl.zst", storage=file_storage)
    # The other database starts as a full copy (made by the engines themselves), then drifts.
    full = create_backup(owner_id=0, storage_key="full/db", storage=file_storage)
    restore_backup(artifact=full, storage=file_storage, target_db_url=other_database_url)
    with database_alias(Database.from_url(other_database_url)) as other:
        apps.get_model("inventory", "StockItem").objects.using(other).filter(owner_id=owner.pk).delete()
        apps.get_model("billing", "Invoice").objects.using(other).filter(owner_id=owner.pk).update(
            currency="USD"
        )

        restore_backup(artifact=export, storage=file_storage, target_db_url=other_database_url)

        assert owner_rows(owner, other) == before
        assert owner_rows(other_owner, other) == other_before
