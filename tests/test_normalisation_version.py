"""Editing provider source (a comment, a moved function) rewrites no cached job; bumping the
normalisation version re-normalises every cached job of its kinds once.

Run as a user would: ``manage.py syncjobs`` in fresh interpreters against one SQLite database
and one fakecloud, first from this tree, then from a copy whose provider files were edited.
"""

import ast
import shutil
import sqlite3
from pathlib import Path

import pytest

from fakecloud import defaults as d
from fakecloud.testing import FakeCloudServer
from tests import fixtures_stack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "var", "__pycache__", "tests", "bench", "docs", "static")


def manage(tree: Path, data_dir: Path, *args: str, stdin: str = "") -> str:
    """``manage.py *args`` run from the source tree ``tree`` on the SQLite database in ``data_dir``."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return fixtures_stack.manage(env, *args, stdin=stdin, cwd=tree)


def copy_with_edited_providers(dest: Path, bump: bool = False) -> Path:
    """This tree, its provider files edited as a refactoring would: a comment on top of each,
    and in each module of parsers a function moved to the end. ``bump``: the Huawei
    normalisation version is raised as well."""
    shutil.copytree(ROOT, dest, ignore=COPY_IGNORE)
    providers = dest / "jobs" / "providers"
    for path in sorted(providers.rglob("*.py")):
        path.write_text("# A comment a developer added.\n" + path.read_text())
    parsers = providers / "huawei" / "parsers.py"
    source = parsers.read_text()
    tree = ast.parse(source)
    used_at_import = {
        n.id
        for stmt in tree.body
        if not isinstance(stmt, ast.FunctionDef | ast.ClassDef)
        for n in ast.walk(stmt)
        if isinstance(n, ast.Name)
    }
    func = next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name not in used_at_import)
    lines = source.splitlines(keepends=True)
    block = lines[func.lineno - 1 : func.end_lineno]
    del lines[func.lineno - 1 : func.end_lineno]
    source = "".join(lines) + "\n\n" + "".join(block)
    if bump:
        assert "NORMALISATION_VERSION = 1\n" in source
        source = source.replace("NORMALISATION_VERSION = 1\n", "NORMALISATION_VERSION = 2\n")
    parsers.write_text(source)
    return dest


def rows_synced_since(data_dir: Path, mark: str) -> int:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM jobs_job WHERE synced_at > ?", [mark]).fetchone()[0]


def last_sync_mark(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        return db.execute("SELECT MAX(synced_at) FROM jobs_job").fetchone()[0]


def test_editing_provider_source_rewrites_no_job_and_a_version_bump_rewrites_each_once(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    edited = copy_with_edited_providers(tmp_path / "edited")
    bumped = copy_with_edited_providers(tmp_path / "bumped", bump=True)
    with FakeCloudServer(jobs=20, seed=5, speed=0, short_jobs=0) as fc:
        manage(ROOT, data, "migrate", "-v", "0")
        manage(
            ROOT,
            data,
            "addaccount",
            "fc",
            "--provider",
            "huawei",
            "--region",
            "cn-north-4",
            "--endpoint",
            fc.url,
            "--project-id",
            d.HUAWEI_PROJECT_ID,
            "--access-key",
            d.HUAWEI_AK,
            "--kinds",
            "avatar_training,voice_training",
            stdin=d.HUAWEI_SK + "\n",
        )
        first = manage(ROOT, data, "syncjobs", "--full")
        assert "avatar_training: succeeded" in first and "20 new" in first
        mark = last_sync_mark(data)

        again = manage(edited, data, "syncjobs", "--full")

        assert again.count(" 0 new, 0 changed, 20 unchanged") == 2, again
        assert rows_synced_since(data, mark) == 0

        after_bump = manage(bumped, data, "syncjobs", "--full")

        assert after_bump.count(" 0 new, 20 changed, 0 unchanged") == 2, after_bump
        assert rows_synced_since(data, mark) == 40
        mark = last_sync_mark(data)
        assert manage(bumped, data, "syncjobs", "--full").count(" 0 new, 0 changed, 20 unchanged") == 2
        assert rows_synced_since(data, mark) == 0
