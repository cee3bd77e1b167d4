"""A database connection that died under a long-running piece of work (PostgreSQL restarted,
a failover, `pg_terminate_backend`): Django does not reconnect by itself outside a request,
and every later statement of that thread fails with "the connection is closed". Workers call
`drop_lost_connections()` where they can start afresh: before the statements that give a
claim back and record what happened."""

from __future__ import annotations

from django.db import connections


def drop_lost_connections() -> None:
    """Close this thread's connections that met an error and no longer answer, so that the
    next statement opens a new one. A healthy connection stays open whatever its age
    (`CONN_MAX_AGE` is for the end of a request or task, not the middle of a cycle: with 0,
    as on SQLite, Django's own check would close it every time). A connection inside a
    transaction is left alone: the transaction's owner rolls it back (and Django closes it
    when that fails)."""
    for connection in connections.all(initialized_only=True):
        if (
            connection.connection is None
            or connection.in_atomic_block
            or not connection.errors_occurred
        ):
            continue
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


def database_lost() -> bool:
    """Whether this thread's default database connection is gone (closed, or no longer
    answering): an error met on it was the database's, not a bug of the statement."""
    connection = connections["default"]
    if connection.connection is None:
        return True
    return not connection.is_usable()
