"""The production-like stack for tests that run real processes: environment for manage.py and
Celery subprocesses, the worker/beat processes of a test, a migrated SQLite database
(``migrated_sqlite``), and a throw-away PostgreSQL database with Redis (``production_stack``).

``manage.py migrate`` runs once per session for each backend (5-10 s a time on a loaded
machine); each test gets a copy of that database, as fresh as a migrate of its own would be.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT_SECONDS = 120
POLL_SECONDS = 0.2  # wait_until's pause between looks (each one query)


def base_env(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "DJANGO_"))}
    env.update(
        DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        CREDENTIALS_KEY=Fernet.generate_key().decode(),
        SECRET_KEY="e2e-" + uuid.uuid4().hex,
        SYNC_DETAIL_BUDGET="500",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage(env, *args, stdin=None, cwd=ROOT):
    """``manage.py *args`` in a fresh interpreter run from ``cwd`` (a source tree), with ``stdin``
    as its input; asserts it succeeded and returns its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


class Stack:
    """The worker and beat processes of one test, stopped (by pid) at the end."""

    def __init__(self, env, log_dir):
        self.env = env
        self.log_dir = log_dir
        self.procs = []

    def start(self, *args, name):
        """``celery -A dashboard *args``, in a process group of its own (so ``kill`` can take its
        pool processes with it, as kill -9 of a container or a lost host would)."""
        log = open(self.log_dir / f"{name}.log", "a")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dashboard", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((proc, log))
        return proc

    def kill(self, proc):
        """kill -9 the process group of ``proc`` (one this stack started) and forget it."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for entry in [e for e in self.procs if e[0] is proc]:
            self.procs.remove(entry)
            entry[1].close()

    def stop(self):
        for proc, _log in self.procs:
            proc.terminate()
        for proc, log in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()

    def logs(self):
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text()
            out.append(f"--- {path.name}\n{text[:2500]}\n[...]\n{text[-1500:]}" if len(text) > 4000 else text)
        return "\n".join(out)


def wait_until(check, stack, what):
    deadline = time.monotonic() + WAIT_SECONDS
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        for proc, _ in stack.procs:
            assert proc.poll() is None, f"a celery process exited\n{stack.logs()}"
        time.sleep(POLL_SECONDS)
    pytest.fail(f"timed out waiting for {what} (last: {last})\n{stack.logs()}")


def _admin():
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True, connect_timeout=3)
    except Exception as exc:  # the production stack is part of scripts/test's bootstrap
        pytest.fail(f"PostgreSQL or Redis is not reachable: {exc}")


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory):
    """A SQLite database after ``manage.py migrate`` of this tree (made once, read-only)."""
    data_dir = tmp_path_factory.mktemp("migrated-sqlite")
    manage(base_env(data_dir), "migrate", "--noinput", "-v0")
    return data_dir / "db.sqlite3"


@pytest.fixture
def migrated_sqlite(_migrated_sqlite_template):
    """``migrated_sqlite(data_dir)`` puts a migrated database at ``data_dir``/db.sqlite3, where
    ``base_env(data_dir)`` looks for it: what ``manage.py migrate`` would leave there."""

    def copy(data_dir):
        data_dir.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(_migrated_sqlite_template), sqlite3.connect(data_dir / "db.sqlite3")
        try:
            src.backup(dst)  # the WAL included, whatever its state
        finally:
            src.close()
            dst.close()

    return copy


@pytest.fixture(scope="session")
def _migrated_pg_template(tmp_path_factory):
    """The name of a PostgreSQL database after ``manage.py migrate`` of this tree, used as the
    TEMPLATE of each test's database; dropped at the end of the session."""
    admin = _admin()
    name = f"tod_e2e_tpl_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = base_env(tmp_path_factory.mktemp("migrated-pg"))
        env.update(DATABASE_URL=PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        manage(env, "migrate", "--noinput", "-v0")
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def production_stack(tmp_path, _migrated_pg_template):
    """(env, query) for subprocesses on a throw-away, migrated PostgreSQL database and Redis
    (its own queue name); the database is dropped afterwards."""
    admin = _admin()
    name = f"tod_e2e_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_pg_template}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    env = base_env(tmp_path / "data")
    env.update(DATABASE_URL=url, CELERY_BROKER_URL=REDIS_URL, CELERY_QUEUE=f"e2e-{uuid.uuid4().hex}")

    def query(sql):
        with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]

    try:
        yield env, query
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
