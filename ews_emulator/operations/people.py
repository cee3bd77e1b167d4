"""FindPeople and GetPersona: the contacts of a folder seen as personas.

Exchange aggregates a person's contacts (and directory entries) into one persona; here each
contact is its own persona, with the contact's id as its PersonaId.
"""

from __future__ import annotations

from lxml import etree

from ..restrictions import compile_restriction
from ..soap import Element, EwsError, child, children, m, parse_xml, sub, t, text_of
from ..store import ItemRow
from .base import Ctx, looks_like_id, operation, resolve_folder
from .settings import single_response


def persona_of(row: ItemRow) -> Element:
    contact = parse_xml(row.xml)
    persona = etree.Element(t("Persona"))
    sub(persona, t("PersonaId"), Id=row.id)
    sub(persona, t("PersonaType"), "Person")
    name = text_of(contact, "DisplayName") or text_of(contact, "FileAs") or ""
    sub(persona, t("CreationTime"), text_of(contact, "DateTimeCreated") or "")
    sub(persona, t("DisplayName"), name)
    sub(persona, t("DisplayNameFirstLast"), name)
    given, surname = text_of(contact, "GivenName"), text_of(contact, "Surname")
    if given:
        sub(persona, t("GivenName"), given)
    if surname:
        sub(persona, t("Surname"), surname)
    company = text_of(contact, "CompanyName")
    if company:
        sub(persona, t("CompanyName"), company)
    emails = [e.text for e in children(child(contact, "EmailAddresses"), "Entry") if e.text]
    if emails:
        address = sub(persona, t("EmailAddress"))
        sub(address, t("Name"), name)
        sub(address, t("EmailAddress"), emails[0].removeprefix("SMTP:"))
        sub(address, t("RoutingType"), "SMTP")
    return persona


def _matches_query(persona: Element, query: str) -> bool:
    """A QueryString (AQS) of words or `Property:value` terms, all of which must match the
    persona's name or address, case-insensitively."""
    haystack = " ".join(
        (node.text or "").casefold() for node in persona.iter() if isinstance(node.tag, str)
    )
    for term in query.split():
        needle = term.partition(":")[2] if ":" in term else term
        if needle.strip('"').casefold() not in haystack:
            return False
    return True


@operation("FindPeople")
def find_people(ctx: Ctx, req: Element) -> Element:
    try:
        holder = child(req, "ParentFolderId")
        folder_elem = (
            next((c for c in holder if isinstance(c.tag, str)), None)
            if holder is not None
            else None
        )
        folder = (
            resolve_folder(ctx, folder_elem)
            if folder_elem is not None
            else ctx.store.distinguished_folder(ctx.target.id, "contacts")
        )
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
    except EwsError as e:
        return single_response("FindPeople", e)
    personas = [
        persona_of(row) for row in ctx.store.items_in_folder(folder.id) if row.kind == "Contact"
    ]
    restriction = child(req, "Restriction")
    if restriction is not None and len(restriction):
        predicate = compile_restriction(restriction)
        personas = [p for p in personas if predicate(p)]
    query = text_of(req, "QueryString")
    if query:
        personas = [p for p in personas if _matches_query(p, query)]
    personas.sort(key=lambda p: (text_of(p, "DisplayName") or "").casefold())
    view = child(req, "IndexedPageItemView")
    offset = int(view.get("Offset", "0")) if view is not None else 0
    size = int(view.get("MaxEntriesReturned", "100")) if view is not None else 100
    root = single_response("FindPeople")
    people = sub(root, m("People"))
    for persona in personas[offset : offset + size]:
        people.append(persona)
    sub(root, m("TotalNumberOfPeopleInView"), str(len(personas)))
    sub(root, m("FirstMatchingRowIndex"), str(offset))
    sub(root, m("FirstLoadedRowIndex"), str(offset))
    return root


@operation("GetPersona")
def get_persona(ctx: Ctx, req: Element) -> Element:
    ident = child(req, "PersonaId")
    persona_id = ident.get("Id", "") if ident is not None else ""
    row = ctx.store.item(persona_id)
    root = etree.Element(m("GetPersonaResponseMessage"))
    if row is None or row.kind != "Contact" or not ctx.can_access(row.mailbox_id):
        error = (
            EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            if not looks_like_id(persona_id)
            else EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        )
        root.set("ResponseClass", "Error")
        sub(root, m("MessageText"), error.text)
        sub(root, m("ResponseCode"), error.code)
        return root
    root.set("ResponseClass", "Success")
    sub(root, m("ResponseCode"), "NoError")
    persona = persona_of(row)
    persona.tag = m("Persona")
    root.append(persona)
    return root
