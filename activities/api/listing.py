"""List pages rendered from `values()` rows instead of model instances.

A page of 50 appointments with their parties is ~150 model instances; building them and
walking DRF's per-instance machinery (`get_attribute`, `_readable_fields`) cost more than
the queries. Here each serializer field is resolved once per request to a column and its own
`to_representation`, and then applied to plain rows, so the JSON is the serializer's, field
for field (a test compares the two on every list endpoint).

Only the field kinds the list serializers use are supported; `RowRenderer` refuses any other
when it is built, so a new field cannot be silently rendered wrong.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import serializers
from rest_framework.relations import PrimaryKeyRelatedField

from activities.api.concurrency import etag_of
from activities.api.serializers import RegardingTypeField

Row = dict[str, Any]


@dataclass(frozen=True)
class _Column:
    """One output key: the row's column and how to render a non-null value."""

    key: str
    column: str
    render: Callable[[Any], Any] | None  # None: the value as it is (ids)


@dataclass(frozen=True)
class _Nested:
    """A read-only `many=True` nested serializer over a reverse foreign key."""

    key: str
    model: type[Model]
    link: str  # the related model's column pointing back, e.g. "appointment_id"
    renderer: RowRenderer


class RowRenderer:
    """Renders rows of `model` the way `serializer` renders its instances."""

    def __init__(self, serializer: serializers.Serializer[Any], model: type[Model]) -> None:
        self.model = model
        self.keys: list[str] = []
        self.columns: list[_Column] = []
        self.nested: list[_Nested] = []
        self.etag_key: str | None = None
        for name, field in serializer.fields.items():
            if field.write_only:
                continue
            self.keys.append(name)
            self._resolve(name, field)

    def _resolve(self, name: str, field: serializers.Field[Any, Any, Any, Any]) -> None:
        meta = self.model._meta
        source = field.source or name
        if isinstance(field, serializers.SerializerMethodField):
            if name != "etag":
                raise TypeError(f"{self.model.__name__}.{name}: method fields are not supported")
            self.etag_key = name
            return
        if isinstance(field, serializers.ListSerializer):
            child = field.child
            relation = meta.get_field(source)
            related: type[Model] = relation.related_model  # type: ignore[assignment]
            if not isinstance(child, serializers.ModelSerializer):
                raise TypeError(f"{self.model.__name__}.{name}: nested lists must be models")
            link = relation.field.attname  # type: ignore[union-attr]
            self.nested.append(_Nested(name, related, link, RowRenderer(child, related)))
            return
        if "." in source or source == "*":
            raise TypeError(f"{self.model.__name__}.{name}: dotted sources are not supported")
        model_field = meta.get_field(source)
        column = model_field.attname  # type: ignore[union-attr]
        if isinstance(field, PrimaryKeyRelatedField) and field.pk_field is None:
            # DRF renders the related object's pk: the id column as it is.
            self.columns.append(_Column(name, column, None))
            return
        reads_own_attribute = type(field).get_attribute is not serializers.Field.get_attribute
        # RegardingTypeField reads the content type's id: the column itself.
        if reads_own_attribute and not isinstance(field, RegardingTypeField):
            raise TypeError(f"{self.model.__name__}.{name}: custom attributes are not supported")
        self.columns.append(_Column(name, column, field.to_representation))

    @property
    def value_columns(self) -> list[str]:
        names = {column.column for column in self.columns} | {"id"}
        if self.etag_key:
            names.add("modified_at")
        return sorted(names)

    def fetch_related(self, rows: Sequence[Row]) -> dict[str, dict[Any, list[Row]]]:
        """One query per nested list for the whole page, grouped by the owning row's id."""
        ids = [row["id"] for row in rows]
        grouped: dict[str, dict[Any, list[Row]]] = {}
        for nested in self.nested:
            by_owner: dict[Any, list[Row]] = defaultdict(list)
            if ids:
                related = nested.model._default_manager.filter(**{f"{nested.link}__in": ids})
                columns = {*nested.renderer.value_columns, nested.link}
                for row in related.order_by("pk").values(*columns):
                    by_owner[row[nested.link]].append(row)
            grouped[nested.key] = by_owner
        return grouped

    def render(self, rows: Sequence[Row]) -> list[Row]:
        related = self.fetch_related(rows) if self.nested else {}
        return [self._render_one(row, related) for row in rows]

    def _render_one(self, row: Row, related: dict[str, dict[Any, list[Row]]]) -> Row:
        out: Row = {}
        for column in self.columns:
            value = row[column.column]
            # As DRF does: a null is rendered as null without asking the field.
            if value is not None and column.render is not None:
                value = column.render(value)
            out[column.key] = value
        for nested in self.nested:
            children = related[nested.key].get(row["id"], [])
            out[nested.key] = [nested.renderer._render_one(child, {}) for child in children]
        if self.etag_key:
            out[self.etag_key] = etag_of(row["id"], row["modified_at"])
        # The serializer's key order.
        return {key: out[key] for key in self.keys}


@functools.cache
def renderer_for(serializer_class: type[serializers.ModelSerializer[Any]]) -> RowRenderer:
    """One renderer per serializer class, built on first use.

    Shared across requests: rendering a value needs no request (the current time zone is
    read when a date is rendered, and the one field that needs more, the ETag, is computed
    here from the row).
    """
    return RowRenderer(serializer_class(), serializer_class.Meta.model)


def rows_for_page(
    queryset: QuerySet[Any], renderer: RowRenderer, extra_columns: Iterable[str] = ()
) -> QuerySet[Any]:
    """The queryset as rows with the columns the renderer (and the ordering) needs."""
    columns = {*renderer.value_columns, *extra_columns}
    return queryset.prefetch_related(None).values(*sorted(columns))
