"""Every benchmark run appends one line to ``benchmarks/results/<script>.jsonl``, so the history is visible.

    from history import record_run
    record_run("domain_jobs", options=vars(args), results={...})

A line holds when (UTC), what (git commit, and whether the tree had other uncommitted changes), where (host
name, CPU count, load average at the end of the run, Python) and the run's options and numbers. Commit the
files: a change that makes something slower shows up as a step in its history.
"""

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # The results files themselves do not make the tree dirty: they change with every run.
    changes = git("status", "--porcelain", "--", ".", f":!{RESULTS_DIR.relative_to(ROOT)}")
    return {"git_sha": git("rev-parse", "HEAD") or None, "git_dirty": bool(changes)}


def record_run(script: str, *, options: dict[str, Any], results: dict[str, Any]) -> Path:
    """Append this run (``results`` and the ``options`` it ran with) to ``results/<script>.jsonl``."""
    line = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **git_state(),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "options": options,
        "results": results,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{script}.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, default=str, sort_keys=False) + "\n")
    print(f"results appended to {path.relative_to(ROOT)}")
    return path
