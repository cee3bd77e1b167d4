"""What a conflict's decision table lists: only the fields whose CRM and Exchange versions
really differ, not what both sides merely write differently (the demo's conflict listed
"organizer: None" against the owner and "time zone: (empty)" against UTC, issue 14)."""

from mailboxes.sync.conflicts import compare_snapshots, shown_value

OWN = "Alice@Example.com"


def differing(crm: dict[str, object], exchange: dict[str, object]) -> list[str]:
    return [row.field for row in compare_snapshots(crm, exchange, OWN) if row.differs]


def test_no_time_zone_in_the_crm_is_utc_in_exchange() -> None:
    assert differing({"time_zone": ""}, {"time_zone": "UTC"}) == []
    assert differing({"time_zone": None}, {"time_zone": "Etc/UTC"}) == []
    assert differing({"time_zone": ""}, {"time_zone": "Europe/Paris"}) == ["time_zone"]
    assert differing({"time_zone": "Europe/Berlin"}, {"time_zone": "Europe/Paris"}) == ["time_zone"]


def test_no_organizer_in_the_crm_is_the_mailbox_owner_in_exchange() -> None:
    owner = {"address": "alice@example.com", "name": "Alice"}
    assert differing({"organizer": None}, {"organizer": owner}) == []
    # the address says who; a name written otherwise is not a difference
    assert (
        differing(
            {"organizer": {"address": "ALICE@example.com", "name": "A. S."}}, {"organizer": owner}
        )
        == []
    )
    bob = {"address": "bob@example.com", "name": "Bob"}
    assert differing({"organizer": None}, {"organizer": bob}) == ["organizer"]
    assert differing({"organizer": owner}, {"organizer": bob}) == ["organizer"]


def test_nothing_is_nothing_however_written_and_real_changes_are_listed() -> None:
    crm: dict[str, object] = {
        "location": "Room 1",
        "categories": [],
        "description": "",
        "reminder_minutes": None,
    }
    exchange: dict[str, object] = {"location": "Room 2", "categories": None, "description": None}
    rows = compare_snapshots(crm, exchange, OWN)
    assert [row.field for row in rows] == [
        "location",
        "categories",
        "description",
        "reminder_minutes",
    ]
    assert [row.field for row in rows if row.differs] == ["location"]
    assert differing({"reminder_minutes": 0}, {"reminder_minutes": None}) == ["reminder_minutes"]
    assert differing({"is_all_day": False}, {"is_all_day": True}) == ["is_all_day"]


def test_values_are_shown_in_words() -> None:
    assert shown_value(None) == shown_value("") == shown_value([]) == "—"
    assert shown_value({"address": "bob@example.com", "name": "Bob"}) == "Bob <bob@example.com>"
    assert shown_value({"address": "bob@example.com", "name": ""}) == "bob@example.com"
    assert shown_value(["Red", "Blue"]) == '["Red", "Blue"]'
    assert shown_value(15) == "15"
