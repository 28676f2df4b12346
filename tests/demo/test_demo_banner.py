"""``make run`` ends with the admin's URL, user and password in a box, once the web server and a qcluster
are up (``manage.py demo_banner``)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from demo.credentials import write_credentials
from jobs.models import EngineProcess

pytestmark = pytest.mark.django_db(transaction=True)


def qcluster_beating() -> EngineProcess:
    now = timezone.now()
    return EngineProcess.objects.create(
        host="here",
        pid=1,
        started_at=now - timedelta(seconds=5),
        last_beat_at=now,
        runs_dispatcher=True,
        workers=2,
    )


def test_the_box_names_the_admin_url_the_user_and_the_password_once_both_are_up(
    live_server, settings, tmp_path
):
    settings.DATA_DIR, settings.DEMO_ADMIN_PASSWORD = tmp_path, ""
    write_credentials("admin", "s3cret-from-seed")
    qcluster_beating()
    out = StringIO()

    call_command("demo_banner", url=f"{live_server.url}/admin/", wait=30, stdout=out)

    box = out.getvalue()
    assert f"Admin:     {live_server.url}/admin/" in box
    assert "User:      admin" in box and "Password:  s3cret-from-seed" in box
    assert box.strip().startswith("┌") and box.strip().endswith("┘")


def test_a_password_from_the_environment_is_not_repeated(live_server, settings, tmp_path):
    settings.DATA_DIR, settings.DEMO_ADMIN_PASSWORD = tmp_path, "chosen-by-the-user"
    qcluster_beating()
    out = StringIO()

    call_command("demo_banner", url=f"{live_server.url}/admin/", wait=30, stdout=out)

    assert "Password:  the value of DEMO_ADMIN_PASSWORD" in out.getvalue()
    assert "chosen-by-the-user" not in out.getvalue()


def test_without_a_qcluster_it_gives_up_with_one_plain_line(live_server):
    with pytest.raises(CommandError, match="did not come up within 1 s"):
        call_command("demo_banner", url=f"{live_server.url}/admin/", wait=1)


def test_only_an_http_url_is_taken():
    with pytest.raises(CommandError, match="must be an http"):
        call_command("demo_banner", url="file:///etc/passwd", wait=1)
