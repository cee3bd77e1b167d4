"""Migration 0015 fills `invited` of the meeting mappings written before it was recorded
(README, "Meeting invitations"): the attendees a meeting the mailbox organizes has now; not
someone else's meeting, not an appointment without attendees, not a mapping written since.
Migration 0018 marks the attendees of such meetings nobody was sent as `withheld`."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from activities.models import ActivityParty, Appointment
from mailboxes.models import ExchangeSyncIdMapping, Mailbox
from tests.factories import make_appointment, make_mailbox, make_mapping

pytestmark = pytest.mark.django_db

fill_invited = importlib.import_module("mailboxes.migrations.0015_fill_invited").fill_invited


class _Editor:
    connection = connection


def _mapping(mailbox: Mailbox, meeting: Appointment, **fields: object) -> ExchangeSyncIdMapping:
    return make_mapping(mailbox=mailbox, crm_object=meeting, **fields)


def _meeting(mailbox: Mailbox, *parties: tuple[str, str]) -> Appointment:
    meeting = make_appointment(owner_user=mailbox.user)
    for role, address in parties:
        ActivityParty.objects.create(appointment=meeting, role=role, address=address)
    return meeting


def test_old_meeting_mappings_get_the_attendees_they_have() -> None:
    mailbox = make_mailbox(email_address="Owner@Example.com")
    required, optional, resource = (
        ActivityParty.Role.REQUIRED_ATTENDEE,
        ActivityParty.Role.OPTIONAL_ATTENDEE,
        ActivityParty.Role.RESOURCE,
    )
    organizer = ActivityParty.Role.ORGANIZER
    own = _meeting(
        mailbox,
        (organizer, "owner@example.com"),
        (required, "Ann@Partner.Example"),
        (optional, "bob@partner.example"),
        (resource, "room-1@example.com"),
    )
    unorganized = _meeting(mailbox, (required, "cy@partner.example"))
    theirs = _meeting(mailbox, (organizer, "boss@else.example"), (required, "owner@example.com"))
    alone = _meeting(mailbox)
    already = _meeting(mailbox, (required, "dee@partner.example"))
    recent = _meeting(mailbox, (required, "eve@partner.example"))
    old = [
        _mapping(mailbox, own),
        _mapping(mailbox, unorganized),
        _mapping(mailbox, theirs),
        _mapping(mailbox, alone),
        _mapping(mailbox, already, invited=["someone@partner.example"]),
    ]
    _mapping(mailbox, recent)
    # the old ones were written before 0009 was applied, the new one after
    applied = MigrationRecorder.Migration.objects.get(
        app="mailboxes", name="0009_meetings_and_option_changes"
    ).applied
    ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in old]).update(
        created_at=applied - dt.timedelta(days=30)
    )

    fill_invited(apps, _Editor())

    invited = dict(ExchangeSyncIdMapping.objects.values_list("crm_object_id", "invited"))
    assert invited == {
        own.pk: ["ann@partner.example", "bob@partner.example", "room-1@example.com"],
        unorganized.pk: ["cy@partner.example"],
        theirs.pk: [],
        alone.pk: [],
        already.pk: ["someone@partner.example"],
        recent.pk: [],
    }


fill_withheld = importlib.import_module("mailboxes.migrations.0018_mapping_withheld").fill_withheld


def test_meetings_nobody_was_sent_are_held_unsent_by_their_attendees() -> None:
    # given meetings the mailbox organizes: one sent, one never sent, one without
    # attendees, and someone else's meeting
    mailbox = make_mailbox(email_address="Owner@Example.com")
    required = ActivityParty.Role.REQUIRED_ATTENDEE
    sent = _meeting(mailbox, (required, "ann@partner.example"))
    unsent = _meeting(mailbox, (required, "Bob@Partner.Example"))
    alone = _meeting(mailbox)
    theirs = _meeting(
        mailbox,
        (ActivityParty.Role.ORGANIZER, "boss@else.example"),
        (required, "cy@partner.example"),
    )
    _mapping(mailbox, sent, invited=["ann@partner.example"])
    for meeting in (unsent, alone, theirs):
        _mapping(mailbox, meeting)

    fill_withheld(apps, _Editor())

    withheld = dict(ExchangeSyncIdMapping.objects.values_list("crm_object_id", "withheld"))
    assert withheld == {
        sent.pk: [],
        unsent.pk: ["bob@partner.example"],
        alone.pk: [],
        theirs.pk: [],
    }
