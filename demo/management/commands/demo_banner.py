"""``manage.py demo_banner --url URL``: once the web server answers and a qcluster beats, print where to log
in (the admin URL, the user, the password) in a box: ``make run`` shows it last, after the start-up logs."""

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.commands import DatabaseErrorAsCommandError
from demo.credentials import credentials_file, read_password
from jobs.models import EngineProcess

POLL_SECONDS = 0.5


class Command(DatabaseErrorAsCommandError, BaseCommand):
    help = "Wait for the web server and a qcluster, then print the admin URL, user and password in a box."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", required=True, help="The admin's URL, e.g. http://127.0.0.1:8000/admin/."
        )
        parser.add_argument("--wait", type=float, default=120, help="Seconds to wait for both (default 120).")

    def handle(self, *args, url: str, wait: float, **options) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise CommandError(f"--url must be an http(s) URL, not {url!r}.")
        deadline = time.monotonic() + wait
        while not (self.web_answers(url) and self.qcluster_beats()):
            if time.monotonic() > deadline:
                raise CommandError(
                    f"The web server at {url} or the qcluster did not come up within {wait:g} s."
                )
            time.sleep(POLL_SECONDS)
        self.stdout.write(self.box(url))

    def web_answers(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http(s) checked above
                return response.status < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            return False

    def qcluster_beats(self) -> bool:
        return EngineProcess.objects.alive(timezone.now()).filter(workers__gt=0).exists()

    def box(self, url: str) -> str:
        if settings.DEMO_ADMIN_PASSWORD:
            shown = "the value of DEMO_ADMIN_PASSWORD"
        else:
            shown = read_password() or f"not in {credentials_file()} (the user existed already)"
        lines = [
            "The scheduler is up: a web server and a qcluster (dispatcher and workers).",
            "",
            f"Admin:     {url}",
            "User:      admin",
            f"Password:  {shown}",
            f"           (kept in {credentials_file()})",
            "",
            "Ctrl-C stops both.",
        ]
        width = max(len(line) for line in lines)
        return "\n".join(
            [
                "",
                "┌" + "─" * (width + 2) + "┐",
                *(f"│ {line:<{width}} │" for line in lines),
                "└" + "─" * (width + 2) + "┘",
                "",
            ]
        )
