from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

MAX_PAGE_SIZE = 200


class ActivityCursorPagination(CursorPagination):
    """Cursor pages: stable under concurrent inserts, and no COUNT(*) over a large table."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-modified_at"

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> tuple[str, ...]:
        ordering = tuple(super().get_ordering(request, queryset, view))
        if any(field.lstrip("-") in ("pk", "id") for field in ordering):
            return ordering
        # The primary key breaks ties, so that a page boundary never splits them arbitrarily.
        return (*ordering, "-pk" if ordering[0].startswith("-") else "pk")
