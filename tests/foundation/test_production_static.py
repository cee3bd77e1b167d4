"""The production image's pages: static files built as the Dockerfile builds them, served by
gunicorn with DEBUG off, the way the image runs.

Replays issue 9's reproduction: with static files collected under DEBUG (no manifest), every
page that names a static file answered 500 ("Missing staticfiles manifest entry").
"""

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest

from tests.foundation.production import PRODUCTION, PROJECT_DIR, process_environment
from tests.servers.dovecot import free_port

pytestmark = pytest.mark.e2e

PAGES = ("/admin/login/", "/accounts/login/", "/api/docs/")
# The TLS proxy in front of the image says the request came over HTTPS (compose's .env sets
# USE_X_FORWARDED_PROTO=true); without it the production settings redirect to https://.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "Host": "crm.example.com"}
STATIC_REFERENCE = re.compile(r"""(?:href|src)=["'](/static/[^"'?#]+)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')?#]+)""")


def get(url: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=PROXY_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn on 127.0.0.1 with the production settings and static files built by the
    image's own build step (scripts/build-static) into a temporary folder."""
    tmp = tmp_path_factory.mktemp("production")
    static_root = tmp / "static"
    env = process_environment(
        tmp / "data",
        **PRODUCTION,
        USE_X_FORWARDED_PROTO="true",
        STATIC_ROOT=str(static_root),
        PYTHON=sys.executable,
    )
    subprocess.run(
        ["sh", "scripts/build-static", str(static_root)],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        timeout=300,
    )
    assert (static_root / "staticfiles.json").is_file()
    port = free_port()
    log = tmp / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "crmsync.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("page", PAGES)
def test_page_and_its_static_files_are_served_with_debug_off(
    production_server: str, page: str
) -> None:
    status, _, body = get(production_server + page)

    assert status == 200, body.decode(errors="replace")[:2000]
    assets = set(STATIC_REFERENCE.findall(body.decode()))
    assert assets, f"{page} names no static file"
    for asset in sorted(assets):
        # hashed names from the manifest, served by WhiteNoise
        assert re.search(r"\.[0-9a-f]{12}\.", asset), asset
        asset_status, content_type, content = get(production_server + asset)
        assert asset_status == 200, asset
        assert content
        if content_type.startswith("text/css"):
            for inner in CSS_URL.findall(content.decode()):
                if inner.startswith("data:"):
                    continue
                inner_status, _, _ = get(urljoin(production_server + asset, inner))
                assert inner_status == 200, f"{inner} named by {asset}"


def test_a_file_missing_from_the_manifest_is_not_served(production_server: str) -> None:
    # The counterpart: the server does answer 404 for a static name it does not have.
    status, _, _ = get(production_server + "/static/admin/css/no-such-file.css")

    assert status == 404
