"""scripts/demo: one demo per data folder; a second start is refused without touching the
running one's data or logs, and each run appends to the logs."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOGS = ("worker.log", "beat.log", "ews-emulator.log", "graph-emulator.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_env(data: Path, port: int, ews_port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CRMSYNC_", "DATABASE_URL", "CELERY_", "DJANGO_"))
    }
    env.update(
        CRMSYNC_DATA_DIR=str(data),
        CRMSYNC_DEMO_PORT=str(port),
        CRMSYNC_DEMO_EWS_PORT=str(ews_port),
        CRMSYNC_DEMO_GRAPH_PORT=str(free_port()),
    )
    return env


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[tuple[dict[str, str], int, Path]]:
    """A demo started in its own process group, stopped with Ctrl-C (SIGINT) after the test."""
    data, port, ews_port = tmp_path / "demo", free_port(), free_port()
    env = demo_env(data, port, ews_port)
    output = (tmp_path / "first.out").open("wb")
    first = subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not answers(port):
            assert first.poll() is None, (tmp_path / "first.out").read_text()
            assert time.monotonic() < deadline, "the demo did not start within 240 s"
            time.sleep(0.5)
        yield env, port, data
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGINT)
            try:
                first.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
        output.close()


def test_a_second_demo_is_refused_and_leaves_the_first_untouched(
    running_demo: tuple[dict[str, str], int, Path],
) -> None:
    env, port, data = running_demo
    before = {name: (data / "logs" / name).read_bytes() for name in LOGS}

    second = subprocess.run(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )

    said = second.stdout.decode() + second.stderr.decode()
    assert second.returncode == 1, said
    assert "a demo is already running" in said
    assert f"http://127.0.0.1:{port}/ (CRMSYNC_DEMO_PORT={port})" in said
    assert "CRMSYNC_DEMO_EWS_PORT=" in said and "CRMSYNC_DEMO_GRAPH_PORT=" in said
    # Refused before migrating or seeding anything.
    assert "migrating" not in said and "demo data" not in said
    for name in LOGS:
        after = (data / "logs" / name).read_bytes()
        # The first demo's processes go on writing; nothing was truncated or overwritten.
        assert after.startswith(before[name]), name
        assert after.count(b"==== demo started") == 1, name
    assert answers(port)


def test_a_port_in_use_is_named_with_the_variable_that_picks_another(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(ROOT / "scripts" / "demo")],
            cwd=ROOT,
            env=demo_env(tmp_path / "demo", port, free_port()),
            capture_output=True,
            timeout=120,
            check=False,
        )
    said = result.stderr.decode()
    assert result.returncode == 1, said
    assert f"port {port} for the demo's web server is in use" in said
    assert f"CRMSYNC_DEMO_PORT={port + 1} scripts/demo" in said
    assert not (tmp_path / "demo" / "crmsync.sqlite3").exists()
