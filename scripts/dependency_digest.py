"""Prints the digest of what the lock files are made from: pyproject.toml's dependencies,
optional dependencies, supported Python versions and build requirements.

scripts/lock writes it at the top of each lock file; scripts/lib.sh compares it with
pyproject.toml's to refuse a lock that pyproject.toml has moved on from. Other edits of
pyproject.toml (tool settings) leave it unchanged.
"""

import hashlib
import json
import sys
import tomllib
from pathlib import Path


def dependency_digest(pyproject: Path) -> str:
    pyproject_toml = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = pyproject_toml["project"]
    inputs = {
        key: project.get(key)
        for key in ("requires-python", "dependencies", "optional-dependencies")
    }
    inputs["build-requires"] = pyproject_toml["build-system"]["requires"]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print(dependency_digest(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "pyproject.toml"))
