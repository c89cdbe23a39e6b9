"""The shape of the code: imports run one way (views -> tasks -> sync -> providers -> http),
no import cycle among jobs/ modules, no provider imports another, no module outgrows its room.

The import graph is read from the source (ast), so a function-level import counts as much as
a top-level one: hiding an import inside a function does not hide a cycle.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JOBS = ROOT / "jobs"
MAX_LINES = 450

# Lower layers never import higher ones (a module may import its own layer and anything below).
LAYERS = [
    ("jobs.providers",),  # vendor clients over one HTTP choke point (providers/http.py)
    ("jobs.sync",),  # services that write the cache
    ("jobs.tasks",),  # Celery tasks and enqueueing
    ("jobs.views", "jobs.admin", "jobs.urls", "jobs.management"),  # what users and scripts call
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(JOBS.rglob("*.py")) if "migrations" not in path.parts}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The jobs module an import refers to (a package's submodule if it is one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported jobs module, line, inside a function?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else [])
                    )
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, nested)
                continue
            for name in names:
                target = _resolve(name) if name.startswith("jobs") else None
                if target and target != module:
                    out.append((target, child.lineno, in_function))

    visit(tree, False)
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer_matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(_layer_matches(module, p) for p in prefixes):
            return index
    return None


def test_no_module_under_jobs_outgrows_its_room():
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in JOBS.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_imports_run_one_way_down_the_layers():
    unmatched = [p for prefixes in LAYERS for p in prefixes if not any(_layer_matches(m, p) for m in MODULES)]
    assert unmatched == [], f"no module under {unmatched} any more: update LAYERS"
    upward = [
        f"{module}:{line} imports {target}"
        for module, imports in GRAPH.items()
        for target, line, _ in imports
        if _layer(module) is not None and _layer(target) is not None and _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_provider_imports_another_provider():
    vendor_modules = {m for m in MODULES if m.startswith(("jobs.providers.huawei", "jobs.providers.tencent"))}
    assert vendor_modules, "the vendor modules moved: update this test"

    def vendor(module):
        return module.split(".")[2]

    crossing = [
        f"{module}:{line} imports {target}"
        for module in vendor_modules
        for target, line, _ in GRAPH[module]
        if target in vendor_modules and vendor(target) != vendor(module)
    ]
    assert crossing == []


def test_the_sync_service_never_imports_tasks_or_views():
    found = [
        f"{module}:{line} imports {target}"
        for module, imports in GRAPH.items()
        if module.startswith("jobs.sync")
        for target, line, _ in imports
        if target.startswith(("jobs.tasks", "jobs.views", "jobs.admin"))
    ]
    assert found == []


def test_there_is_no_import_cycle_among_jobs_modules():
    # A submodule importing its siblings through the package (jobs.sync.kind -> jobs.sync.rows)
    # runs the package's __init__ first; that is how packages work, not a cycle, so edges go to
    # the module named and its package's __init__ is not counted as imported.
    edges = {module: {target for target, *_ in imports} for module, imports in GRAPH.items()}
    cycles = _cycles(edges)
    assert cycles == []


def test_no_function_level_import_of_a_project_module_outside_app_startup():
    # AppConfig.ready() is where Django wants signal wiring imported; nothing else needs one.
    hidden = [
        f"{module}:{line} imports {target}"
        for module, imports in GRAPH.items()
        if module != "jobs.apps"
        for target, line, in_function in imports
        if in_function
    ]
    assert hidden == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "first",
    [
        "jobs.providers.http",
        "jobs.providers",
        "jobs.sync.rows",
        "jobs.sync.kind",
        "jobs.sync",
        "jobs.tasks",
        "jobs.views",
        "jobs.admin",
    ],
)
def test_each_layer_imports_first_in_a_fresh_interpreter(first):
    # The order an entry point happens to import modules in must not matter.
    code = f"import django; django.setup(); import importlib; importlib.import_module({first!r})"
    env = {"DJANGO_SETTINGS_MODULE": "dashboard.test_settings", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
