"""The Django a benchmark runs: a temporary DATA_DIR removed at exit, and the database it writes
to, a throw-away PostgreSQL database (``--pg``), else the SQLite file in that DATA_DIR; and the
fakecloud accounts it syncs. Shared by bench/sync and bench/quota."""

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path


def use_throwaway_postgres(admin_url: str):
    """Create a database named tod_bench_<random>, point DATABASE_URL at it, and return a
    function that drops it (closing Django's connections first)."""
    import psycopg  # only --pg runs need the driver here

    name = f"tod_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + "/" + name

    def drop():
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return drop


@contextlib.contextmanager
def bench_django(bench: str, pg_url: str | None = None, env=None):
    """Django set up and migrated on a fresh database, for the ``with`` block: DATA_DIR is a new
    temporary directory (tod-bench-<bench>-*), ``env(data_dir)`` (a dict) goes into the
    environment before Django starts, and ``pg_url`` (an admin URL) puts the cache in a
    throw-away PostgreSQL database. Yields DATA_DIR; at exit the database is dropped and
    DATA_DIR removed."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"tod-bench-{bench}-"))
    dropper, django_ready = None, False
    try:
        os.environ["DATA_DIR"] = str(data_dir)
        os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ.pop("DATABASE_URL", None)
        os.environ.update(env(data_dir) if env else {})
        if pg_url:
            dropper = use_throwaway_postgres(pg_url)

        import django

        django.setup()
        django_ready = True
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield data_dir
    finally:
        if dropper:
            dropper()
        if django_ready:
            from django.db import connections

            connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


def make_huawei_account(fc, name: str, kinds: list[str], max_rps: float | None = None):
    """A saved MetaStudio account at the fakecloud ``fc`` (a FakeCloudProcess or FakeCloudServer)."""
    from jobs.models import CloudAccount

    account = CloudAccount(
        name=name,
        provider="huawei",
        region=fc.huawei["region"],
        endpoint=fc.url,
        project_id=fc.huawei["project_id"],
        access_key_id=fc.huawei["ak"],
        kinds=list(kinds),
        max_rps=max_rps,
    )
    account.set_secret_key(fc.huawei["sk"])
    account.save()
    return account
