"""Refusals and missing pages are logged as one line (status, path, user id), with no traceback."""

import pytest
from django.urls import reverse

from tests.builders import make_staff_user

pytestmark = pytest.mark.django_db


def request_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "logger=django.request" in line]


def test_a_permission_denial_is_one_line_with_status_path_and_user(client, capsys, owner):
    member = make_staff_user(owner)
    client.force_login(member)
    path = reverse("admin:jobs_jobswitch_changelist")

    assert client.get(path).status_code == 403

    output = capsys.readouterr().out
    assert request_lines(output) == [line for line in output.splitlines() if "django.request" in line]
    (line,) = request_lines(output)
    assert "level=WARNING" in line
    assert f"status_code=403 path={path} user_id={member.pk}" in line
    assert "Traceback" not in output and "exc=" not in output and "WSGIRequest" not in output


def test_a_row_of_another_owner_is_a_404_logged_in_one_line(client, capsys, outsider, owner):
    client.force_login(outsider)
    path = reverse("admin:tenants_owner_change", args=[owner.pk])

    assert client.get(path).status_code == 404

    output = capsys.readouterr().out
    (line,) = request_lines(output)
    assert f"status_code=404 path={path} user_id={outsider.pk}" in line
    assert "Traceback" not in output and "exc=" not in output


def test_an_anonymous_not_found_names_no_user(client, capsys):
    assert client.get("/no-such-page/").status_code == 404

    (line,) = request_lines(capsys.readouterr().out)
    assert "status_code=404 path=/no-such-page/ user_id=-" in line
