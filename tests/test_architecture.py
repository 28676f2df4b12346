"""The shape of the house, read from the source: imports run one way, and no room imports itself in a circle.

The apps stand in floors (docs/architecture.md): config → tenants → jobs → notifications → backups, inventory,
billing → ops, with demo seeding on top. A module may import its own app and any app on a lower floor; the
three domain apps on one floor do not import each other. Inside an app no modules import each other in a
circle. Every import counts, also one inside a function: that is where a hidden circle would sit.
"""

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

FLOORS = {
    "config": 0,
    "tenants": 1,
    "jobs": 2,
    "notifications": 3,
    "backups": 4,
    "inventory": 4,
    "billing": 4,
    "ops": 5,
    "demo": 6,
}
ROOT = Path(settings.BASE_DIR)


def source_modules() -> dict[str, Path]:
    """Every module of our apps by dotted name (packages by their own name), migrations left out."""
    modules = {}
    for app in FLOORS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = source_modules()


def imported_modules(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, resolved to our modules where it names one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else base


def app_of(module: str) -> str:
    return module.split(".")[0]


def test_no_app_imports_an_app_on_a_higher_floor_or_beside_it():
    wrong = []
    for name, path in MODULES.items():
        source = app_of(name)
        for line, target in imported_modules(name, path):
            destination = app_of(target)
            if destination not in FLOORS or destination == source:
                continue
            upward = FLOORS[destination] > FLOORS[source]
            sideways = FLOORS[destination] == FLOORS[source]
            if upward or sideways:
                wrong.append(f"{path.relative_to(ROOT)}:{line} {source} -> {target}")
    assert wrong == []


def test_no_modules_of_one_app_import_each_other_in_a_circle():
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for _line, target in imported_modules(name, path):
            if target in MODULES and target != name and app_of(target) == app_of(name):
                graph[name].add(target)
    assert find_circles(graph) == []


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle once, as the path that closes it (depth-first, colouring visited modules)."""
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return circles


def test_the_circle_finder_finds_a_circle():
    assert find_circles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) == [["a.x", "a.y", "a.z", "a.x"]]
    assert find_circles({"a.x": {"a.y"}, "a.y": set()}) == []


def modules_importing(prefix: str) -> set[str]:
    return {
        name
        for name, path in MODULES.items()
        if any(
            target == prefix or target.startswith(f"{prefix}.")
            for _line, target in imported_modules(name, path)
        )
    }


def test_only_the_seam_touches_django_q2():
    # jobs.queue_admin subclasses django-q2's own admin pages to lock them down: UI, not the task format.
    assert modules_importing("django_q") == {"jobs.djangoq", "jobs.queue_admin"}


def test_only_the_outbox_sends_mail():
    assert modules_importing("django.core.mail") == {"notifications.emails", "notifications.outbox"}
