from django.core.mail.backends.base import BaseEmailBackend


class Backend(BaseEmailBackend):
    """A mail server that refuses every connection, as an unreachable SMTP host does."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("connection refused by the test mail server")
