FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRMSYNC_DATA_DIR=/data \
    STATIC_ROOT=/app/static

RUN useradd --system --create-home --home-dir /app crmsync && mkdir -p /data \
    && chown crmsync /data
WORKDIR /app
# The pinned dependencies first, each file checked against its hash (requirements/lock.txt and,
# for building the project, requirements/build-lock.txt, made by scripts/lock); this layer is
# rebuilt only when a lock changes.
COPY requirements/lock.txt requirements/build-lock.txt requirements/
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/lock.txt \
    -r requirements/build-lock.txt && pip check
COPY pyproject.toml README.md ./
COPY crmsync crmsync
COPY users users
COPY profiles profiles
COPY mailboxes mailboxes
COPY activities activities
COPY ews_emulator ews_emulator
COPY templates templates
COPY manage.py ./
COPY scripts/build-static scripts/
# The project itself: its dependencies are all in the lock, and it is built with the locked
# setuptools (no build isolation, which would fetch an unpinned one).
RUN pip install --no-cache-dir --no-deps --no-build-isolation .
# Hashed static files and their manifest, collected with the production settings into the
# image itself (not the data volume), where WhiteNoise serves them from.
RUN sh scripts/build-static "$STATIC_ROOT"
USER crmsync
EXPOSE 8000
CMD ["gunicorn", "crmsync.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
