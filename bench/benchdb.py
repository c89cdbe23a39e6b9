"""The database a benchmark writes to: a throw-away PostgreSQL database (``--pg``), else the
SQLite file in the benchmark's temporary DATA_DIR. Shared by bench/sync and bench/quota."""

import os
import uuid


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
