from smtplib import SMTPRecipientsRefused

from django.core.mail.backends.locmem import EmailBackend


class RefusingBackend(EmailBackend):
    """The test mailbox (``mail.outbox``), except that the server refuses the addresses in ``refused``."""

    refused: set[str] = set()

    def send_messages(self, email_messages):
        for message in email_messages:
            refused = set(message.to) & self.refused
            if refused:
                raise SMTPRecipientsRefused({address: (550, b"mailbox unavailable") for address in refused})
        return super().send_messages(email_messages)
