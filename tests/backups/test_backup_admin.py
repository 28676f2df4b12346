"""The backups admin: an owner's staff see, verify, restore, delete and download only that owner's backups."""

import time
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core import signing
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from backups.models import Backup
from backups.services import take_backup
from backups.views import download_url
from tests.backups.builders import make_backup, use_file_storage
from tests.builders import make_staff_user

CONTENT = b"backup bytes"


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    use_file_storage(settings, tmp_path / "backups")


@pytest.fixture
def stored(owner) -> Backup:
    return make_backup(owner, content=CONTENT)


def presigned_lifetime_seconds(url: str) -> int:
    """How long a presigned S3 URL stays valid: SigV4 says so directly, SigV2 gives the expiry instant."""
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" in query:
        return int(query["X-Amz-Expires"][0])
    return int(query["Expires"][0]) - int(time.time())


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:backups_backup_{name}", args=args)


def test_members_see_their_owners_backups_with_size_and_checksum(client, member, stored):
    client.force_login(member)

    page = client.get(admin_url("changelist")).content.decode()

    assert admin_url("change", stored.pk) in page
    assert "12\xa0bytes" in page
    assert stored.sha256[:8] in page


def test_an_outsider_does_not_see_another_owners_backups_in_the_list(client, outsider, stored):
    client.force_login(outsider)

    page = client.get(admin_url("changelist")).content.decode()

    assert admin_url("change", stored.pk) not in page


def test_an_outsider_gets_404_for_another_owners_backup(client, outsider, stored):
    client.force_login(outsider)

    assert client.get(admin_url("change", stored.pk)).status_code == 404


def test_an_outsider_gets_404_for_another_owners_download(client, outsider, stored):
    client.force_login(outsider)

    assert client.get(admin_url("download", stored.pk)).status_code == 404


def test_an_outsider_gets_404_for_another_owners_restore_page(client, outsider, stored):
    client.force_login(outsider)

    assert client.get(admin_url("restore", stored.pk)).status_code == 404


def test_a_member_downloads_through_a_signed_link(client, member, stored):
    client.force_login(member)

    link = client.get(admin_url("download", stored.pk))
    response = client.get(link["Location"])

    assert link["Location"].startswith("/backups/download/")
    assert b"".join(response.streaming_content) == CONTENT
    assert "attachment" in response["Content-Disposition"]


def test_a_signed_link_made_for_a_member_is_refused_to_an_outsider(client, member, outsider, stored):
    link = download_url(stored, member)
    client.force_login(outsider)

    assert client.get(link).status_code == 404


def test_a_signed_link_for_another_owners_backup_is_refused_even_if_made_for_the_user(
    client, outsider, stored
):
    # Links are only minted after the admin's owner check; the view checks the owner again regardless.
    link = download_url(stored, outsider)
    client.force_login(outsider)

    assert client.get(link).status_code == 404


def test_a_signed_link_expires_after_five_minutes(client, member, stored):
    client.force_login(member)
    link = download_url(stored, member)

    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert client.get(link).status_code == 404


def test_a_tampered_link_is_refused(client, member, stored):
    client.force_login(member)
    token = signing.TimestampSigner(salt="backups.download").sign_object(
        {"backup": stored.pk, "user": member.pk}
    )

    assert client.get(reverse("backups:download", args=[token[:-2] + "xx"])).status_code == 404


def test_on_s3_the_download_is_a_presigned_url_valid_for_five_minutes(
    client, member, owner, moto_s3, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": moto_s3.bucket,
                "location": "backups",
                "endpoint_url": moto_s3.endpoint,
                "region_name": "us-east-1",
                "access_key": "moto-access-key",
                "secret_key": "moto-secret-key-not-real",
            },
        },
    }
    stored = make_backup(owner, content=CONTENT)
    client.force_login(member)

    location = client.get(admin_url("download", stored.pk))["Location"]

    assert 0 < presigned_lifetime_seconds(location) <= 300
    with urllib.request.urlopen(location, timeout=10) as response:  # noqa: S310 - a loopback moto URL
        assert response.read() == CONTENT


def test_the_verify_action_re_reads_and_marks_verified(client, member, owner):
    made = take_backup(owner_id=owner.pk).backup
    client.force_login(member)

    response = client.post(
        admin_url("changelist"),
        {"action": "verify_selected", "_selected_action": [made.pk]},
        follow=True,
    )

    assert f"Backup #{made.pk} verified." in response.content.decode()


def test_the_restore_action_asks_for_confirmation_first(client, member, stored):
    client.force_login(member)

    response = client.post(
        admin_url("changelist"), {"action": "restore_selected", "_selected_action": [stored.pk]}, follow=True
    )

    assert "You are about to restore" in response.content.decode()


def test_restoring_without_ticking_the_confirmation_changes_nothing(client, member, stored):
    client.force_login(member)

    response = client.post(admin_url("restore", stored.pk), {"target_db_url": ""})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_a_member_may_not_restore_a_full_database_backup(client, member, db):
    from tenants.models import GLOBAL_OWNER_ID, Owner

    full = make_backup(Owner.objects.get(pk=GLOBAL_OWNER_ID))
    member.memberships.create(owner_id=GLOBAL_OWNER_ID)
    client.force_login(member)

    assert client.get(admin_url("restore", full.pk)).status_code == 403


def test_the_delete_action_removes_the_row_and_its_object(client, member, stored):
    client.force_login(member)

    client.post(
        admin_url("changelist"), {"action": "delete_selected_with_objects", "_selected_action": [stored.pk]}
    )

    assert not Backup.objects.filter(pk=stored.pk).exists()
    assert not storages["backups"].exists(stored.storage_key)


def test_a_viewer_cannot_run_actions(client, owner, stored):
    viewer = make_staff_user(owner, role="viewer")
    client.force_login(viewer)

    client.post(
        admin_url("changelist"), {"action": "delete_selected_with_objects", "_selected_action": [stored.pk]}
    )

    assert Backup.objects.filter(pk=stored.pk).exists()


def test_backups_cannot_be_added_by_hand(client, member):
    client.force_login(member)

    assert client.get(admin_url("add")).status_code == 403


def test_the_downloaded_file_is_named_for_the_tools_that_open_it(client, member, owner):
    made = take_backup(owner_id=owner.pk).backup
    client.force_login(member)

    response = client.get(client.get(admin_url("download", made.pk))["Location"])

    assert f'filename="owner-{owner.pk}-' in response["Content-Disposition"]
    assert response["Content-Disposition"].endswith('.jsonl.zst"')


def test_an_error_shown_in_the_admin_names_no_server_directory(client, member, owner, tmp_path):
    made = take_backup(owner_id=owner.pk).backup
    storages["backups"].delete(made.storage_key)
    client.force_login(member)

    response = client.post(
        admin_url("changelist"), {"action": "verify_selected", "_selected_action": [made.pk]}, follow=True
    )

    page = response.content.decode()
    assert f"Backup #{made.pk}: " in page and "missing" in page
    assert str(tmp_path) not in page
