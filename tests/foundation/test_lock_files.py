"""The lock files: pinned with hashes, made from pyproject.toml's dependencies, and refused by
scripts/lib.sh (so by scripts/test, scripts/demo and CI) once pyproject.toml moves on."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.foundation.production import PROJECT_DIR

LOCKS = ("requirements/lock.txt", "requirements/dev-lock.txt")
BUILD_LOCK = "requirements/build-lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", re.MULTILINE)


def check_locks(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", 'source scripts/lib.sh && check_locks "$(find_python)"'],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """What the lock check reads, copied: pyproject.toml, the lock files, the scripts."""
    for name in (
        "pyproject.toml",
        *LOCKS,
        BUILD_LOCK,
        "scripts/lib.sh",
        "scripts/dependency_digest.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    return tmp_path


def test_the_lock_files_match_pyproject() -> None:
    result = check_locks(PROJECT_DIR)

    assert (result.returncode, result.stderr) == (0, "")


def test_a_dependency_added_to_pyproject_makes_the_locks_stale(project_copy: Path) -> None:
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [\n", 'dependencies = [\n    "six",\n', 1)
    )

    result = check_locks(project_copy)

    assert result.returncode == 1
    assert "requirements/lock.txt does not match the dependencies in pyproject.toml" in (
        result.stderr
    )
    assert "run scripts/lock" in result.stderr


def test_a_missing_dev_lock_is_refused(project_copy: Path) -> None:
    (project_copy / "requirements/dev-lock.txt").unlink()

    result = check_locks(project_copy)

    assert result.returncode == 1
    assert "requirements/dev-lock.txt does not match" in result.stderr


def test_a_build_requirement_changed_in_pyproject_makes_the_locks_stale(
    project_copy: Path,
) -> None:
    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert 'requires = ["setuptools>=77"]' in text
    pyproject.write_text(text.replace('requires = ["setuptools>=77"]', 'requires = ["flit_core"]'))

    result = check_locks(project_copy)

    assert result.returncode == 1
    assert "does not match the dependencies in pyproject.toml" in result.stderr


def test_the_build_lock_pins_the_build_backend() -> None:
    text = (PROJECT_DIR / BUILD_LOCK).read_text()

    assert [name for name, _ in PIN.findall(text)] == ["setuptools"]


def test_a_tool_setting_changed_in_pyproject_keeps_the_locks(project_copy: Path) -> None:
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("line-length = 100", "line-length = 99"))

    result = check_locks(project_copy)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("lock", [*LOCKS, BUILD_LOCK])
def test_every_pin_carries_its_hashes(lock: str) -> None:
    text = (PROJECT_DIR / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    pins = [entry for entry in entries if PIN.match(entry)]

    assert len(pins) >= (1 if lock == BUILD_LOCK else 20)
    assert [pin.split(" ")[0] for pin in pins if "--hash=sha256:" not in pin] == []
    assert "-e " not in text and "file:" not in text


def test_the_tests_run_on_the_versions_the_image_installs() -> None:
    runtime = dict(PIN.findall((PROJECT_DIR / LOCKS[0]).read_text()))
    dev = dict(PIN.findall((PROJECT_DIR / LOCKS[1]).read_text()))

    assert "django" in {name.lower() for name in runtime}
    assert {name: dev.get(name) for name in runtime} == runtime
