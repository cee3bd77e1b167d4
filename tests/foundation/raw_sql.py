from django.db import connection
from django.db.models import Model


def raw_column(model: type[Model], column: str, pk: int) -> str:
    """What the database itself holds in one column of one row, past any field conversion."""
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = connection.ops.quote_name(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quoted} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]
