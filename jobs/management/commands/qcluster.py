"""django-q2's ``qcluster``, with the jobs dispatcher running in the cluster's main process.

Our app is listed before ``django_q`` in INSTALLED_APPS, so this command replaces django-q2's (the way
staticfiles replaces ``runserver``). The process registers its ``EngineProcess`` row and prepares the
shutdown state first, so the sentinel and workers django-q2 forks inherit both; only then does the
dispatcher open its connections. A thread beats the row while the cluster runs.

``--queue NAME`` makes the cluster's workers take only that queue's runs (jobs.queues), e.g. a backup worker
of its own: ``qcluster --queue backups``; without it they take the default queue.

SIGTERM (or SIGINT) stops the dispatcher, then ``jobs.shutdown.stop_cluster``: no new run starts, running
jobs get JOBS_SHUTDOWN_GRACE_SECONDS to finish and are cancelled after it; then the cluster stops and the
row is stamped stopped.
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from config.commands import DatabaseErrorAsCommandError
from jobs import processes, shutdown
from jobs.dispatcher import Dispatcher
from jobs.djangoq import Cluster, consume, worker_count
from jobs.djangoq import QClusterCommand as DjangoQClusterCommand
from jobs.queues import DEFAULT_QUEUE, InvalidQueueName, validate_queue_name

# How often a cluster without a dispatcher looks whether its sentinel is still alive.
SENTINEL_CHECK_SECONDS = 1.0


class Command(DatabaseErrorAsCommandError, DjangoQClusterCommand):
    help = "Starts a django-q2 cluster with the jobs dispatcher inside it."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--no-dispatcher", action="store_true", help="Run workers only; another process dispatches."
        )
        parser.add_argument(
            "--queue",
            default=DEFAULT_QUEUE,
            help=f"The queue this cluster's workers take runs from (default: {DEFAULT_QUEUE}), e.g. backups.",
        )

    def handle(self, *args, **options) -> None:
        if options.get("cluster_name"):
            raise CommandError(
                "qcluster --name is not used here: every cluster of a site shares Q_CLUSTER_NAME; "
                "choose the queue a cluster takes with --queue NAME."
            )
        try:
            queue = validate_queue_name(options["queue"])
        except InvalidQueueName as error:
            raise CommandError(str(error)) from None
        settings.SECRET_KEY  # noqa: B018 - django-q2 signs tasks with it: fail early when it is missing
        with_dispatcher = not (options["run_once"] or options["no_dispatcher"])
        consume(queue)
        process = processes.register(
            runs_dispatcher=with_dispatcher, workers=worker_count(), queues=[queue], now=timezone.now()
        )
        shutdown.prepare()
        # Nothing opened here may be shared with the forked sentinel and workers.
        connections.close_all()
        cluster = Cluster()
        cluster.start()
        if options["run_once"]:
            cluster.stop()
            process.mark_stopped(now=timezone.now())
            return None
        stopping = threading.Event()
        dispatcher = Dispatcher() if with_dispatcher else None

        def stop(signum, frame) -> None:
            stopping.set()
            if dispatcher is not None:
                dispatcher.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            with processes.beating(process, timezone.now):
                try:
                    if dispatcher is not None:
                        dispatcher.run(keep_going=cluster.sentinel.is_alive)
                    else:
                        while not stopping.wait(SENTINEL_CHECK_SECONDS) and cluster.sentinel.is_alive():
                            pass
                finally:
                    shutdown.stop_cluster(
                        cluster, process=process, grace=settings.JOBS_SHUTDOWN_GRACE_SECONDS
                    )
        finally:
            process.mark_stopped(now=timezone.now())
            connections.close_all()
        return None
