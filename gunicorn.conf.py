"""gunicorn settings for the dashboard: `gunicorn dashboard.wsgi -c gunicorn.conf.py` (gunicorn
also reads ./gunicorn.conf.py by itself when started from the repository root). Flags on the
command line override these.

The pages are CPU-bound (bench/soak: 6-10 ms of CPU for a job-list request on the 2-core VM),
so one worker process per CPU keeps the CPUs busy; more processes only queue the same work
elsewhere (4 sync workers and 2 gthread workers x 4 threads served the same requests/s within
the noise of a shared machine). gthread is chosen for what it does besides:
- the worker's heartbeat runs on its own thread, so a long response is not killed: a sync
  worker is killed `timeout` seconds into any one response, which cuts a CSV export of a big
  cache short (measured: with --timeout 3 a sync worker cut a 100,000-job export at 2.2 of
  19 MB; a gthread worker sent all of it in 22 s);
- threads overlap what waits (PostgreSQL round trips, a slow client reading an export) and keep
  htmx's and the proxy's keep-alive connections open.

Environment (whole numbers; a bad value stops gunicorn at start):
  WEB_CONCURRENCY   worker processes (default: the CPUs this process may run on)
  GUNICORN_THREADS  threads per worker (default 4)
"""

import os


def _envint(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be at least 1, got {number}")
    return number


def _cpus():
    """The CPUs this process may run on (a container's cpuset, taskset), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


worker_class = "gthread"
workers = _envint("WEB_CONCURRENCY", _cpus())
threads = _envint("GUNICORN_THREADS", 4)

# A worker silent this long is killed and replaced; in a gthread worker that means a stuck
# worker, not a long request (see above).
timeout = 30
# On SIGTERM (a deploy), requests in flight get this long to finish; SIGINT/SIGQUIT stop at once.
graceful_timeout = 30
# Seconds an idle keep-alive connection (the TLS proxy's, a browser polling the list) stays open.
keepalive = 5

# The heartbeat file in memory, never on a slow or full disk (the usual advice for containers).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# No access log by default: the TLS proxy in front logs every request (`--access-logfile -`
# logs them to stdout, as scripts/demo does). Errors go to stderr.
accesslog = None
errorlog = "-"
