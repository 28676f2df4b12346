from datetime import timedelta

import pytest
from django.core import mail

from billing.models import Subscription
from billing.trial_and_payments import check_owner
from billing.trials import trial_stage
from notifications.models import Notification
from tests.domain.builders import make_active, make_trial

pytestmark = pytest.mark.django_db


def run_hourly(owner, start, hours: int) -> None:
    for hour in range(hours + 1):
        check_owner(owner, now=start + timedelta(hours=hour))


@pytest.mark.parametrize(
    ("left", "stage"),
    [
        (timedelta(days=8), None),
        (timedelta(days=7), "7d"),
        (timedelta(days=3, seconds=1), "7d"),
        (timedelta(days=3), "3d"),
        (timedelta(hours=24), "1d"),
        (timedelta(seconds=1), "1d"),
        (timedelta(0), "expired"),
        (-timedelta(days=2), "expired"),
    ],
)
def test_trial_stage_is_the_most_urgent_threshold_crossed(now, left, stage):
    assert trial_stage(now + left, now) == stage


def test_hourly_runs_send_the_7_3_1_day_reminders_and_the_expiry_once_each(owner, now):
    make_trial(owner, ends_at=now + timedelta(days=8), plan="starter")

    run_hourly(owner, now, hours=9 * 24)

    assert [message.subject for message in mail.outbox] == [
        "Your starter trial ends in 7 days",
        "Your starter trial ends in 3 days",
        "Your starter trial ends in 1 day",
        "Your starter trial has ended",
    ]


def test_each_reminder_goes_out_at_its_threshold(owner, now):
    subscription = make_trial(owner, ends_at=now + timedelta(days=8))

    run_hourly(owner, now, hours=9 * 24)

    sent = dict(
        Notification.objects.filter(owner=owner).values_list("dedup_key", "sent_at").order_by("sent_at")
    )
    ends = subscription.trial_ends_at
    assert sent == {
        f"trial:{subscription.pk}:2026-03-10:7d": ends - timedelta(days=7),
        f"trial:{subscription.pk}:2026-03-10:3d": ends - timedelta(days=3),
        f"trial:{subscription.pk}:2026-03-10:1d": ends - timedelta(days=1),
        f"trial:{subscription.pk}:2026-03-10:expired": ends,
    }


def test_ended_trial_is_expired_by_exactly_one_run(owner, now):
    subscription = make_trial(owner, ends_at=now - timedelta(minutes=5))

    first = check_owner(owner, now=now)
    second = check_owner(owner, now=now + timedelta(hours=1))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.EXPIRED
    assert (first["trials_expired"], second["trials_expired"]) == (1, 0)
    assert len(mail.outbox) == 1


def test_reminder_names_the_end_in_the_owners_time_zone(owner, now):
    make_trial(owner, ends_at=now + timedelta(days=2, hours=3))  # 4 March 12:00 UTC = 12:00 GMT

    check_owner(owner, now=now)

    [message] = mail.outbox
    assert message.to == ["ops@acme.test"]
    assert "ends on 2026-03-04 12:00 GMT" in message.body
    assert "<strong>2026-03-04 12:00 GMT</strong>" in message.alternatives[0][0]


def test_after_missed_runs_only_the_most_urgent_reminder_is_sent(owner, now):
    make_trial(owner, ends_at=now + timedelta(hours=30))  # the 7- and 3-day moments already passed

    run_hourly(owner, now, hours=3)

    assert [message.subject for message in mail.outbox] == ["Your starter trial ends in 3 days"]


def test_extending_a_trial_arms_the_reminders_again(owner, now):
    subscription = make_trial(owner, ends_at=now + timedelta(days=2))
    check_owner(owner, now=now)
    subscription.trial_ends_at = now + timedelta(days=12)
    subscription.save()

    run_hourly(owner, now + timedelta(days=5), hours=1)

    assert [message.subject for message in mail.outbox] == [
        "Your starter trial ends in 3 days",
        "Your starter trial ends in 7 days",
    ]


def test_converted_or_cancelled_trials_get_no_reminder(owner, now):
    make_active(owner, period_end=now + timedelta(days=30))
    Subscription.objects.create(
        owner=owner,
        plan="starter",
        status=Subscription.Status.CANCELLED,
        trial_ends_at=now + timedelta(days=1),
    )

    check_owner(owner, now=now)

    assert mail.outbox == []


def test_other_owners_trials_are_not_touched(owner, other_owner, now):
    theirs = make_trial(other_owner, ends_at=now - timedelta(hours=1))

    check_owner(owner, now=now)

    theirs.refresh_from_db()
    assert theirs.status == Subscription.Status.TRIAL
    assert mail.outbox == []
