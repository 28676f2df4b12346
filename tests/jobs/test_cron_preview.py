"""The schedule form's cron preview: the expression in words and its next fire times, for staff only."""

import pytest

PREVIEW = "/admin/jobs/schedule/cron-preview/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_the_cron_preview_describes_an_expression_and_its_next_fire_times(member_client):
    response = member_client.get(PREVIEW, {"expression": "30 21 * * *", "timezone": "Europe/London"})

    answer = response.json()
    assert response.status_code == 200
    assert answer["valid"] is True
    assert "21:30" in answer["description"]
    assert len(answer["next"]) == 5
    assert all(" 21:30 " in time["local"] for time in answer["next"])


def test_the_cron_preview_names_what_is_wrong(member_client):
    response = member_client.get(PREVIEW, {"expression": "61 * * * *"})

    assert response.status_code == 400
    assert response.json()["valid"] is False
    assert "minute" in response.json()["error"]


def test_the_cron_preview_refuses_an_unknown_time_zone(member_client):
    response = member_client.get(PREVIEW, {"expression": "0 * * * *", "timezone": "Mars/Olympus"})

    assert response.status_code == 400
    assert "Mars/Olympus" in response.json()["error"]


def test_the_cron_preview_is_for_staff_only(client, db):
    response = client.get(PREVIEW, {"expression": "0 * * * *"})

    assert response.status_code == 302
