"""INSERT many new rows of one model and learn their primary keys: the one bulk-insert path,
for the initial sync's records, mappings and parties and for the emails a mail batch files.

`QuerySet.bulk_create` compiles every value through several layers of expression checks
(`prepare_value`, `field_as_sql`, `assemble_as_sql`), which costs more than the database
itself when a sync writes tens of thousands of records, their mappings and their parties.
Here each column's value goes through the field's own `pre_save` and `get_db_prep_save` —
what `bulk_create` ends up calling too — and the statement text is built once per batch
size. Like `bulk_create` on PostgreSQL and SQLite, the keys come back by `RETURNING`, in
the order of the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    TextField,
)
from django.utils import timezone

# PostgreSQL's protocol carries at most 65,535 parameters per statement.
MAX_PARAMETERS = 65_535
ROWS_PER_STATEMENT = 500


def insert_new(objs: Sequence[Model]) -> None:
    """Save new instances of one model in a few statements and set their primary keys.

    For plain new rows only: no parents (multi-table inheritance), no conflicts handling,
    no signals — the same contract as `bulk_create`.
    """
    if not objs:
        return
    model = type(objs[0])
    opts = model._meta
    using = router.db_for_write(model)
    connection = connections[using]
    pk = opts.pk
    assert pk is not None
    fields = [f for f in opts.concrete_fields if not isinstance(f, AutoField)]
    if not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.bulk_create(objs)
        return
    now = timezone.now()
    adapters = [_adapter(f, connection, now) for f in fields]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column or f.attname) for f in fields)
    # PostgreSQL's and SQLite's operations both have it (can_return_rows_from_bulk_insert).
    returning, _ = connection.ops.return_insert_columns([pk])  # type: ignore[attr-defined]
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(1, min(ROWS_PER_STATEMENT, _max_parameters(connection) // len(fields)))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params: list[Any] = []
            for obj in chunk:
                params.extend(adapt(obj) for adapt in adapters)
            values = ", ".join([row_marks] * len(chunk))
            # Only quoted table and column names are interpolated; values are parameters.
            sql = f"INSERT INTO {qn(opts.db_table)} ({columns}) VALUES {values} {returning}"  # noqa: S608
            cursor.execute(sql, params)
            for obj, row in zip(chunk, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, row[0])
                obj._state.adding = False
                obj._state.db = using


def _max_parameters(connection: Any) -> int:
    """Django assumes SQLite's historical 999; the linked library usually takes far more."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        return min(
            MAX_PARAMETERS, connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        )
    return int(connection.features.max_query_params or MAX_PARAMETERS)


_PLAIN = (CharField, TextField, BooleanField, IntegerField, ForeignKey)


def _plain(field: Field[Any, Any]) -> bool:
    """A field whose value goes to the driver as it is: one of the plain kinds, and not a
    subclass that prepares its values itself (an encrypted text field encrypts them)."""
    kind = type(field)
    return any(
        isinstance(field, base)
        and kind.get_prep_value is base.get_prep_value
        and kind.get_db_prep_value is base.get_db_prep_value
        and kind.pre_save is base.pre_save
        for base in _PLAIN
    )


def _foreign_key(field: ForeignKey[Any, Any]) -> Callable[[Model], Any]:
    """The key of the related row; of one assigned before it was saved (an email's party
    given the email, which a first INSERT of the same batch has just keyed), as `save` and
    `bulk_create` take it."""
    attname = field.attname

    def key(obj: Model) -> Any:
        value = getattr(obj, attname)
        if value is None and field.is_cached(obj):
            related = field.get_cached_value(obj)
            if related is not None:
                if related.pk is None:
                    raise ValueError(f"insert_new: {field.name} is an unsaved {related!r}")
                value = related.pk
                # Through the relation, as `save` does: the cached row stays.
                setattr(obj, field.name, related)
        return value

    return key


def _adapter(field: Field[Any, Any], connection: Any, now: dt.datetime) -> Callable[[Model], Any]:
    """A function giving the database value of `field` for an instance; `now` for the
    automatic timestamps of the whole statement (created_at, modified_at)."""
    attname = field.attname
    if isinstance(field, ForeignKey) and _plain(field):
        return _foreign_key(field)
    if _plain(field):
        # Python values the drivers take as they are (str, bool, int, None).
        return lambda obj: getattr(obj, attname)
    if isinstance(field, DateTimeField):
        # Aware datetimes straight to the backend's adapter; anything else the long way.
        to_db = connection.ops.adapt_datetimefield_value
        if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
            # What Django's SQLite adapter does (naive UTC text), minus its generic steps.
            def to_db(value: dt.datetime) -> str:
                return str(value.astimezone(dt.UTC).replace(tzinfo=None))

        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            stamped = to_db(now)

            def stamp(obj: Model) -> Any:
                setattr(obj, attname, now)
                return stamped

            return stamp

        def adapt_datetime(obj: Model) -> Any:
            value = field.pre_save(obj, True)
            if value is None:
                return None
            if value.tzinfo is None:
                return field.get_db_prep_save(value, connection)
            return to_db(value)

        return adapt_datetime
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)
