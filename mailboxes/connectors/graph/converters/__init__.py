"""Graph item ⇄ the canonical forms of `mailboxes/itemtypes/`, one module per item type."""

from mailboxes.connectors.graph.converters.contacts import GraphContactConverter
from mailboxes.connectors.graph.converters.events import GraphEventConverter
from mailboxes.connectors.graph.converters.tasks import GraphTaskConverter
from mailboxes.models import ItemType

GraphConverter = GraphEventConverter | GraphContactConverter | GraphTaskConverter

GRAPH_CONVERTERS: dict[str, GraphConverter] = {
    ItemType.APPOINTMENT: GraphEventConverter(),
    ItemType.CONTACT: GraphContactConverter(),
    ItemType.TASK: GraphTaskConverter(),
}

__all__ = ["GRAPH_CONVERTERS", "GraphConverter"]
