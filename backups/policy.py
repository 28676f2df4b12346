"""How the backup job runs, stated once: the job's definition (``backups.jobs``) and every owner's managed
schedule (``backups.schedules``) both read it here.

A large database may take hours, so a backup may run as long as the engine allows any run (its soft
deadline, ``jobs.timeouts.max_timeout_seconds()``; django-q2's hard kill of the worker comes a margin after
it, so a timed-out backup still aborts its upload and ends ``timed_out``). A scheduled trigger while the
owner's backup still runs is skipped and rechecked once an hour later, unless the next regular slot comes
first. Backups run on a queue of their own, so a backup worker (``qcluster --queue backups``) can take them
away from the workers the light jobs need; without one they run on the default queue.
"""

from datetime import timedelta

from jobs.policies import MisfirePolicy, OverlapPolicy
from jobs.timeouts import max_timeout_seconds

JOB_NAME = "backups.run"
QUEUE = "backups"
BACKUP_TIMEOUT = timedelta(seconds=max_timeout_seconds())
OVERLAP = OverlapPolicy.SKIP_AND_RETRY
RECHECK_AFTER = timedelta(hours=1)
MISFIRE = MisfirePolicy.RUN_ONCE
# A backup may take a long time; no schedule may ask for one more often than this.
MIN_INTERVAL = timedelta(hours=1)
