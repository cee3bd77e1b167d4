"""Every setting is read from the environment in `crmsync/settings.py` through the typed
readers of `crmsync/env.py` (which stop the start on a bad value), and each variable read is
in the README's table, which names no other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import global_settings

from crmsync import env

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crmsync", "mailboxes", "profiles", "activities", "users")
READERS = {name for name in vars(env) if name.startswith("env_")}


def read_through_env() -> set[str]:
    """The variables `settings.py` hands to a reader of env.py."""
    names: set[str] = set()
    tree = ast.parse((ROOT / "crmsync" / "settings.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in READERS:
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.unparse(node)
            names.add(str(first.value))
    return names


def in_the_readme_table() -> set[str]:
    """The variables the first column of the README's "Environment variables" table names."""
    section = (ROOT / "README.md").read_text().split("## Environment variables", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def environment_readers_outside_env() -> list[str]:
    """Product modules that read the environment themselves (the Django entry points that
    only name the settings module excepted)."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or path.name == "env.py":
                continue
            source = path.read_text()
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                    line = lines[node.lineno - 1].strip()
                    if "DJANGO_SETTINGS_MODULE" not in line:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {line}")
    return found


def settings_used_but_not_defined() -> list[str]:
    """Names product modules read from `django.conf.settings` that neither settings.py nor
    Django's defaults define (a setting with a hidden default, read past the README)."""
    settings_tree = ast.parse((ROOT / "crmsync" / "settings.py").read_text())
    defined = {n.id for n in ast.walk(settings_tree) if isinstance(n, ast.Name)} | set(
        dir(global_settings)
    )
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                name = ""
                if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "settings":
                    name = node.attr
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", "") == "getattr"
                    and getattr(node.args[0], "id", "") == "settings"
                    and isinstance(node.args[1], ast.Constant)
                ):
                    name = str(node.args[1].value)
                if name.isupper() and name not in defined:
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    return found


def test_every_setting_read_through_env_is_in_the_readme_table_and_no_other() -> None:
    read = read_through_env()

    assert len(read) > 40
    assert sorted(read - in_the_readme_table()) == []
    assert sorted(in_the_readme_table() - read) == []


def test_no_product_module_reads_the_environment_but_env_py() -> None:
    assert environment_readers_outside_env() == []


def test_the_product_reads_no_setting_that_settings_py_does_not_define() -> None:
    assert settings_used_but_not_defined() == []
