"""bench/views: the stage analytics data of a filled cache (issue #13, item 3), as the sync would
leave it: 3 to 6 stretches per job (JobStage rows, bulk-inserted like the jobs: the ORM is too
slow for millions), ending in the job's own state at its state_changed_at (open while the job is
unsettled, lost if it went gone), then the per-day summary built from them by the code the
rebuildstages command runs (jobs.stages.rebuild_summary), so the pages read real data.
"""

import math
import random
import time
from datetime import UTC, datetime, timedelta

# The states a job of each kind passes through before its current one (the vendor's order).
PATHS = {
    "avatar_training": [
        "WAIT_FILE_UPLOAD",
        "AUTO_VERIFYING",
        "MANUAL_VERIFYING",
        "WAIT_TRAINING_DATA_PREPROCESS",
        "TRAINING_DATA_PREPROCESSING",
        "TRAINING",
        "WAIT_COMPILE",
        "COMPILING",
    ],
    "voice_training": ["CREATING", "SYSTEM_AUDITING", "WAITING", "PROCESSING", "RESULT_REVIEW"],
    "translation": ["Submitted", "Running", "Pause", "Running"],
}
# Median seconds in a state (log-normal around it); others 20 minutes.
MEDIANS = {
    "WAIT_FILE_UPLOAD": 6 * 3600,
    "MANUAL_VERIFYING": 8 * 3600,
    "TRAINING": 10 * 3600,
    "TRAINING_DATA_PREPROCESSING": 2 * 3600,
    "PROCESSING": 3 * 3600,
    "WAITING": 1800,
    "Running": 900,
    "Submitted": 60,
    "Pause": 4 * 3600,
}
SETTLED = {"succeeded", "failed", "cancelled", "unknown"}  # the timeline's "settled": no end
COLUMNS = ["job_id", "account_id", "kind", "state", "entered_at", "left_at", "seconds", "end"]


def fill_stages(accounts, seed=7):
    """Stretches for every job, then each account's summary; prints what it took."""
    from django.db import connection, transaction

    from jobs import stages
    from jobs.models import Job
    from jobs.stage_models import JobStage

    rnd = random.Random(seed)
    now = datetime.now(UTC)
    adapt = connection.ops.adapt_datetimefield_value
    qn = connection.ops.quote_name
    table = JobStage._meta.db_table
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        qn(table), ", ".join(qn(c) for c in COLUMNS), ", ".join(["%s"] * len(COLUMNS))
    )
    postgres = connection.vendor == "postgresql"
    copy_sql = "COPY {} ({}) FROM STDIN".format(qn(table), ", ".join(qn(c) for c in COLUMNS))

    def insert(rows):
        with connection.cursor() as cur:
            if postgres:  # COPY: executemany took 10 minutes for 4.5 million rows
                with cur.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cur.executemany(sql, [[*r[:4], adapt(r[4]), adapt(r[5]), *r[6:]] for r in rows])

    started = time.perf_counter()
    rows, written = [], 0
    jobs = Job.objects.order_by("pk").values_list("pk", "account_id", "kind", "state", "status", "updated_at", "gone")
    with transaction.atomic():
        for pk, account_id, kind, state, status, entered, gone in jobs.iterator(chunk_size=20_000):
            for state_, at, left, seconds, end in _stretches(rnd, kind, state, status, entered, gone, now):
                rows.append((pk, account_id, kind, state_, at, left, seconds, end))
            if len(rows) >= 20_000:
                insert(rows)
                written += len(rows)
                rows = []
        if rows:
            insert(rows)
            written += len(rows)
    print(f"stage fill: {written:,} stretches in {time.perf_counter() - started:.1f}s", flush=True)
    for account in accounts:
        t = time.perf_counter()
        cells = stages.rebuild_summary(account.pk)
        print(f"stage summary {account.name}: {cells:,} day cells in {time.perf_counter() - t:.1f}s", flush=True)


def _stretches(rnd, kind, state, status, entered, gone, now):
    """(state, entered_at, left_at, seconds, end) oldest first: 3-6 of them, the last the job's
    current state entered at ``entered``."""
    path = [s for s in PATHS.get(kind, []) if s != state] or ["QUEUED"]
    before = rnd.randint(2, 5)
    start = rnd.randrange(len(path))
    names = [path[(start + i) % len(path)] for i in range(before)]
    out = []
    if status in SETTLED:
        out.append((state, entered, None, None, "final"))
    elif gone:
        left = min(entered + timedelta(hours=1), now)
        out.append((state, entered, left, None, "lost"))
    else:
        out.append((state, entered, None, None, "open"))
    left = entered
    for name in reversed(names):
        if name == out[-1][0]:
            continue  # the same state twice in a row is one stretch
        seconds = min(max(MEDIANS.get(name, 1200) * math.exp(rnd.gauss(0, 0.8)), 5.0), 30 * 86400.0)
        seconds = float(round(seconds))
        at = left - timedelta(seconds=seconds)
        out.append((name, at, left, seconds, "left"))
        left = at
    return reversed(out)
