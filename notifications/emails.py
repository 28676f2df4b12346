"""Notification e-mails, rendered from templates/emails/<kind>_subject.txt, <kind>.txt and <kind>.html."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string

from notifications.models import Notification
from tenants.models import Owner


def build_email(
    notification: Notification,
    *,
    owner: Owner,
    recipient: str,
    connection: BaseEmailBackend | None = None,
) -> EmailMultiAlternatives:
    """The e-mail for one notification: plain text body with an HTML alternative, to ``recipient``."""
    context = {"owner": owner, "notification": notification, **notification.payload}
    base = f"emails/{notification.kind}"
    # A subject is one line: template newlines would make the header invalid.
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{base}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        connection=connection,
        headers={"X-Notification-Key": notification.dedup_key},
    )
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message
