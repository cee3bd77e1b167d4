# Shared by scripts/demo, scripts/test and scripts/lock: find Python, check the lock files,
# make the virtualenv, install. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CRMSYNC_VENV:-$ROOT/.venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Made by scripts/lock from pyproject.toml, relative to $ROOT.
LOCK_FILE="requirements/lock.txt"
DEV_LOCK_FILE="requirements/dev-lock.txt"
# What building the project itself needs (pyproject.toml's [build-system] requires), pinned
# with hashes too: the project is installed without pip's build isolation, which would
# otherwise fetch setuptools unpinned.
BUILD_LOCK_FILE="requirements/build-lock.txt"
# The first line of each lock file: the digest of the pyproject.toml dependencies it was made from.
LOCK_DIGEST_LINE="# pyproject-dependencies-sha256: "

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

# Fails, saying what to do, when a lock file is missing or was made from other dependencies
# than pyproject.toml's now: nothing is ever installed unpinned or from a stale lock.
check_locks() {
    local python="$1" digest file
    digest="$("$python" "$ROOT/scripts/dependency_digest.py")" || return 1
    for file in "$LOCK_FILE" "$DEV_LOCK_FILE" "$BUILD_LOCK_FILE"; do
        if [ ! -f "$ROOT/$file" ] ||
            [ "$(head -n1 "$ROOT/$file")" != "$LOCK_DIGEST_LINE$digest" ]; then
            echo "crmsync: $file does not match the dependencies in pyproject.toml:" \
                "run scripts/lock and commit the lock files." >&2
            return 1
        fi
    done
}

# Creates the virtualenv if missing and installs the pinned dependencies from the lock file
# (hashes required), then the project itself without dependencies, when the lock file or
# pyproject.toml changed since the last install. $1 names the extras: "" or "dev".
ensure_venv() {
    local extras="${1:-}" python lock stamp wanted
    python="$(find_python)" || exit 1
    check_locks "$python" || exit 1
    case "$extras" in
    "") lock="$LOCK_FILE" ;;
    dev) lock="$DEV_LOCK_FILE" ;;
    *)
        echo "crmsync: no lock file for the extras '$extras'." >&2
        exit 1
        ;;
    esac
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating virtualenv in ${VENV#"$ROOT"/}"
        "$python" -m venv "$VENV"
    fi
    stamp="$VENV/.crmsync-installed"
    wanted="$(install_digest "$lock") ${extras:-runtime}"
    # A dev install serves the demo too: don't downgrade it to runtime-only.
    if [ -z "$extras" ] && [ -f "$stamp" ] &&
        [ "$(cat "$stamp")" = "$(install_digest "$DEV_LOCK_FILE") dev" ]; then
        return 0
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "==> installing crmsync and its pinned dependencies ($lock)"
        # --no-deps: the lock lists every package, so pip installs exactly it and resolves
        # nothing (pip 23 resolves a dependency with extras, httpx[http2], to the index's
        # newest release and then refuses it as unpinned); pip check then proves the set whole.
        "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$ROOT/$lock" \
            -r "$ROOT/$BUILD_LOCK_FILE"
        "$VENV/bin/python" -m pip check
        "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
        echo "$wanted" >"$stamp"
    fi
}

# What an install is made from: the lock files and pyproject.toml (the project's own metadata).
install_digest() {
    cat "$ROOT/$1" "$ROOT/$BUILD_LOCK_FILE" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1
}
