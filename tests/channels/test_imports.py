"""The import direction: the channel definitions sit below everything that reads them, and
the product has no import cycle, not even one held together by imports inside functions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from mailboxes import channels
from mailboxes.sync import cycle

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mailboxes", "crmsync", "activities", "profiles", "users")
# A model field's form field is a form (Django's own pattern: models must not need forms).
ALLOWED = {("crmsync.crypto", "crmsync.forms")}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imported(tree: ast.AST) -> Iterator[str]:
    """Every module named by an import, at any depth, except under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from package import submodule" names the submodule; "from module import name"
            # the module (`known` walks up to it).
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        yield from _imported(node)


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {known(n) for n in _imported(ast.parse(path.read_text()))}
        graph[name] = {t for t in targets if t and t != name and (name, t) not in ALLOWED}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_no_module_imports_itself_back() -> None:
    graph = _graph()

    cycles = sorted(name for name in graph if name in _reachable(graph, name))

    assert cycles == []


def test_the_channel_definitions_import_no_engine_and_no_page() -> None:
    graph = _graph()
    below = {n for n in graph if n.startswith("mailboxes.channels")}

    reached = set().union(*(_reachable(graph, n) for n in below))

    engine = ("mailboxes.sync", "mailboxes.mail", "mailboxes.connectors", "mailboxes.web")
    assert sorted(n for n in reached if n.startswith(engine)) == []


def test_every_channel_has_a_runner() -> None:
    assert set(cycle.RUNNERS) == {channel.name for channel in channels.CHANNELS}


def test_exchangelib_is_imported_by_the_ews_connector_only() -> None:
    importers = sorted(
        name
        for name, path in _modules().items()
        if any(n.split(".")[0] == "exchangelib" for n in _imported(ast.parse(path.read_text())))
    )

    assert importers
    assert [n for n in importers if not n.startswith("mailboxes.connectors.ews")] == []


def test_the_graph_connector_does_not_reach_the_ews_connector() -> None:
    graph = _graph()
    below = {n for n in graph if n.startswith("mailboxes.connectors.graph")}

    reached = set().union(*(_reachable(graph, n) for n in below))

    assert sorted(n for n in reached if n.startswith("mailboxes.connectors.ews")) == []
