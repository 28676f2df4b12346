"""How the backup job runs, stated once: the job's definition (``backups.jobs``) and every owner's managed
schedule (``backups.schedules``) both read it here.

A large database may take hours, so a backup may run up to JOBS_MAX_TIMEOUT (the broker's retry window,
JOBS_MAX_TIMEOUT + 5 min, stays above it). A trigger while the owner's backup still runs is skipped and
rechecked an hour later, unless the next regular slot comes first.
"""

from datetime import timedelta

from django.conf import settings

from jobs.policies import MisfirePolicy, OverlapPolicy

JOB_NAME = "backups.run"
BACKUP_TIMEOUT = timedelta(seconds=settings.JOBS_MAX_TIMEOUT)
OVERLAP = OverlapPolicy.SKIP_AND_RETRY
RECHECK_AFTER = timedelta(hours=1)
MISFIRE = MisfirePolicy.RUN_ONCE
