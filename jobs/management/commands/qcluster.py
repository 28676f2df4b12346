"""django-q2's ``qcluster``, with the jobs dispatcher running in the cluster's main process.

Our app is listed before ``django_q`` in INSTALLED_APPS, so this command replaces django-q2's (the way
staticfiles replaces ``runserver``). The cluster forks its sentinel and workers first; only then does the
dispatcher open its connections. SIGTERM stops the dispatcher, then the cluster, which lets running jobs
finish.
"""

import os
import signal

from django.conf import settings
from django.db import connections

from config.commands import DatabaseErrorAsCommandError
from jobs.dispatcher import Dispatcher
from jobs.djangoq import Cluster
from jobs.djangoq import QClusterCommand as DjangoQClusterCommand


class Command(DatabaseErrorAsCommandError, DjangoQClusterCommand):
    help = "Starts a django-q2 cluster with the jobs dispatcher inside it."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--no-dispatcher", action="store_true", help="Run workers only; another process dispatches."
        )

    def handle(self, *args, **options) -> None:
        if options.get("cluster_name"):
            # django-q2's own way of naming the cluster (its queue) for this process.
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        settings.SECRET_KEY  # noqa: B018 - django-q2 signs tasks with it: fail early when it is missing
        # Nothing opened here may be shared with the forked sentinel and workers.
        connections.close_all()
        cluster = Cluster()
        cluster.start()
        if options["run_once"] or options["no_dispatcher"]:
            if options["run_once"]:
                cluster.stop()
            return None
        dispatcher = Dispatcher()
        stop = lambda signum, frame: dispatcher.stop()  # noqa: E731
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            dispatcher.run(keep_going=cluster.sentinel.is_alive)
        finally:
            connections.close_all()
            cluster.stop()
        return None
