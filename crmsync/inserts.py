"""INSERT many new rows of one model and learn their primary keys: the one bulk-insert path,
for the initial sync's records, mappings and parties and for the emails a mail batch files.

`QuerySet.bulk_create` compiles every value through several layers of expression checks
(`prepare_value`, `field_as_sql`, `assemble_as_sql`), which costs more than the database
itself when a sync writes tens of thousands of records, their mappings and their parties.
Here each column's value goes through the field's own `pre_save` and `get_db_prep_save` —
what `bulk_create` ends up calling too — and the statement text is built once per batch
size. Like `bulk_create` on PostgreSQL and SQLite, the keys come back by `RETURNING`, in
the order of the rows. `new_row` makes the instances to insert at about half the cost of
the model's keyword constructor.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    TextField,
)
from django.utils import timezone

# PostgreSQL's protocol carries at most 65,535 parameters per statement.
MAX_PARAMETERS = 65_535
ROWS_PER_STATEMENT = 500

M = TypeVar("M", bound=Model)


def new_row(model: type[M], **values: Any) -> M:
    """A new instance of `model` from these attribute values (`attname`s: `owner_user_id`,
    not `owner_user`), the other fields at their defaults.

    Positional, as `Model.from_db` makes the rows it loads: `Model.__init__` given keywords
    matches each field to them, asks each missing one for its default and sets related rows
    through their descriptors, which for a sync's new records, mappings and parties cost
    as much as their INSERTs."""
    row = [
        values.pop(name) if name in values else default() if made else default
        for name, default, made in _fields(model)
    ]
    if values:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(values))}")
    return model(*row)


@functools.cache
def _fields(model: type[Model]) -> list[tuple[str, Any, bool]]:
    """The model's concrete fields in constructor order: (attname, default, whether the
    default is a function to call for each row). A default that is a value is the same
    object for every row, as `Field.get_default` gives it."""
    fields: list[tuple[str, Any, bool]] = []
    for f in model._meta.concrete_fields:
        if (f.has_default() and callable(f.default)) or f.has_db_default():
            fields.append((f.attname, f.get_default, True))
        else:
            fields.append((f.attname, f.get_default(), False))
    return fields


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
    # The plain columns first, read all at once (`_row_start`), then the others one by one.
    plain = [f for f in fields if _plain(f)]
    others = [f for f in fields if not _plain(f)]
    fields = plain + others
    row_start = _row_start(plain)
    adapters = [_adapter(f, connection, now) for f in others]
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
                params += row_start(obj)
                params += [adapt(obj) for adapt in adapters]
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


def _row_start(fields: Sequence[Field[Any, Any]]) -> Callable[[Model], Sequence[Any]]:
    """A function giving the values of these plain fields for an instance, in one call
    (`attrgetter`: a row's values cost a fraction of a function call per column each)."""
    if not fields:
        return lambda obj: ()
    names = [f.attname for f in fields]
    read = operator.attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    keys = [(n, _foreign_key(f)) for n, f in enumerate(fields) if isinstance(f, ForeignKey)]
    if not keys:
        return read

    def values(obj: Model) -> Sequence[Any]:
        found = read(obj)
        if not obj._state.fields_cache:
            return found  # no related row assigned: the keys are the values
        row = list(found)
        for n, key in keys:
            if row[n] is None:
                row[n] = key(obj)
        return row

    return values


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
    """A function giving the database value of `field` (not a plain one: `_row_start`) for
    an instance; `now` for the automatic timestamps of the whole statement (created_at,
    modified_at)."""
    attname = field.attname
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

        # Not stamped automatically: `pre_save` only reads the attribute, unless overridden.
        read: Callable[[Model], Any] = operator.attrgetter(attname)
        if type(field).pre_save is not DateTimeField.pre_save:
            read = functools.partial(field.pre_save, add=True)

        def adapt_datetime(obj: Model) -> Any:
            value = read(obj)
            if value is None:
                return None
            if value.tzinfo is None:
                return field.get_db_prep_save(value, connection)
            return to_db(value)

        return adapt_datetime
    if isinstance(field, JSONField) and all(
        getattr(type(field), name) is getattr(JSONField, name)
        for name in ("pre_save", "get_prep_value", "get_db_prep_value", "get_db_prep_save")
    ):
        # A dict or list straight to the backend's JSON adapter, as `get_db_prep_save` ends
        # up doing; None is SQL NULL there too.
        adapt_json, encoder = connection.ops.adapt_json_value, field.encoder

        def json_value(obj: Model) -> Any:
            value = getattr(obj, attname)
            if value is None:
                return None
            if type(value) in (dict, list):
                return adapt_json(value, encoder)
            return field.get_db_prep_save(value, connection)

        return json_value
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)
