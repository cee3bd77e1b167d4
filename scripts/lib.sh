# Shared by scripts/demo and scripts/test: find Python, make the virtualenv, install.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CRMSYNC_VENV:-$ROOT/.venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "crmsync needs Python 3.11 or newer; none found on PATH." >&2
    return 1
}

# Creates the virtualenv if missing and installs the project (with the extras named by $1,
# e.g. "dev") when pyproject.toml or the extras changed since the last install.
ensure_venv() {
    local extras="${1:-}" python stamp wanted target
    python="$(find_python)" || exit 1
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating virtualenv in .venv"
        "$python" -m venv "$VENV"
    fi
    stamp="$VENV/.crmsync-installed"
    wanted="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) ${extras:-runtime}"
    target="$ROOT"
    [ -n "$extras" ] && target="$ROOT[$extras]"
    # A dev install serves the demo too: don't downgrade it to runtime-only.
    if [ -z "$extras" ] && [ -f "$stamp" ] && grep -q " dev$" "$stamp" &&
        [ "$(cut -d' ' -f1 "$stamp")" = "${wanted%% *}" ]; then
        return 0
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "==> installing crmsync and its dependencies"
        "$VENV/bin/python" -m pip install --quiet -e "$target"
        echo "$wanted" >"$stamp"
    fi
}
