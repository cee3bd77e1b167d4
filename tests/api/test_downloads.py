"""Attachments and kept raw messages are downloaded through a view that checks who may see
them, always as a download, never rendered on our origin; MEDIA_ROOT is served by nothing."""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from activities.downloads import content_disposition, safe_content_type
from activities.models import Attachment, Email
from tests.api.conftest import People, client_for
from tests.factories import make_appointment, make_email, make_task
from users.models import User

EVIL_HTML = b"<html><script>fetch('/api/v1/emails/').then(r => r.text())</script></html>"


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def attach(
    record: Any,
    *,
    filename: str = "evil.html",
    content: bytes = EVIL_HTML,
    content_type: str = "text/html",
) -> Attachment:
    link = {Email: "email"}.get(type(record)) or type(record).__name__.lower()
    attachment = Attachment(
        **{link: record}, filename=filename, content_type=content_type, size=len(content)
    )
    attachment.file.save("payload", ContentFile(content), save=False)
    attachment.save()
    return attachment


def url_of(attachment: Attachment) -> str:
    return reverse("activities:attachment-download", args=[attachment.pk])


def browser(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_owner_downloads_an_html_attachment_as_an_inert_download(people: People) -> None:
    attachment = attach(make_email(people.alice))

    response = browser(people.alice).get(url_of(attachment))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="evil.html"'
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert body(response) == EVIL_HTML


def test_another_user_gets_404(people: People) -> None:
    attachment = attach(make_email(people.alice))

    response = browser(people.stranger).get(url_of(attachment))

    assert response.status_code == 404


def test_anonymous_is_sent_to_the_login_page(people: People) -> None:
    attachment = attach(make_email(people.alice))

    response = browser(None).get(url_of(attachment))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url_of(attachment)}"


@pytest.mark.parametrize("who", ["member", "queue_owner", "staff"])
def test_queue_members_owners_and_staff_download_a_queue_attachment(
    people: People, who: str
) -> None:
    attachment = attach(make_email(people.queue), filename="notes.txt", content=b"plain notes")

    response = browser(getattr(people, who)).get(url_of(attachment))

    assert response.status_code == 200
    assert body(response) == b"plain notes"


def test_staff_downloads_anyones_attachment(people: People) -> None:
    attachment = attach(make_email(people.alice))

    assert browser(people.staff).get(url_of(attachment)).status_code == 200


def test_a_queue_attachment_is_hidden_from_people_outside_the_queue(people: People) -> None:
    attachment = attach(make_email(people.queue))

    assert browser(people.alice).get(url_of(attachment)).status_code == 404


@pytest.mark.parametrize("make", [make_appointment, make_task], ids=["appointment", "task"])
def test_appointment_and_task_attachments_follow_their_record(people: People, make: Any) -> None:
    attachment = attach(make(people.queue), filename="agenda.pdf", content_type="application/pdf")

    member = browser(people.member).get(url_of(attachment))
    stranger = browser(people.stranger).get(url_of(attachment))

    assert member.status_code == 200
    assert member["Content-Type"] == "application/pdf"
    assert stranger.status_code == 404


def test_an_attachment_without_stored_content_is_404(people: People) -> None:
    email = make_email(people.alice)
    attachment = Attachment.objects.create(
        email=email, filename="huge.iso", error="larger than the limit"
    )

    assert browser(people.alice).get(url_of(attachment)).status_code == 404


def test_a_file_missing_on_disk_is_404(people: People, media_root: Path) -> None:
    attachment = attach(make_email(people.alice))
    (media_root / str(attachment.file.name)).unlink()

    assert browser(people.alice).get(url_of(attachment)).status_code == 404


def test_downloads_work_with_debug_off(people: People, settings: Any) -> None:
    settings.DEBUG = False
    attachment = attach(make_email(people.alice))

    response = browser(people.alice).get(url_of(attachment), secure=True)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("debug", [True, False])
def test_media_files_are_not_served_directly(
    people: People, settings: Any, debug: bool, media_root: Path
) -> None:
    settings.DEBUG = debug
    attachment = attach(make_email(people.alice))
    assert (media_root / str(attachment.file.name)).exists()

    for path in (f"/media/{attachment.file.name}", f"/static/../media/{attachment.file.name}"):
        response = browser(people.staff).get(path, secure=True)
        assert response.status_code == 404, path


def test_the_api_gives_each_attachment_its_download_url(people: People) -> None:
    email = make_email(people.alice)
    attachment = attach(email)

    detail = client_for(people.alice).get(f"/api/v1/emails/{email.pk}/").json()
    listing = client_for(people.alice).get("/api/v1/emails/").json()["results"]

    assert detail["attachments"][0]["download_url"] == url_of(attachment)
    assert listing[0]["attachments"][0]["download_url"] == url_of(attachment)


def test_an_api_token_follows_the_download_url(people: People) -> None:
    email = make_email(people.alice)
    attach(email, filename="notes.txt", content=b"plain notes", content_type="text/plain")
    client = client_for(people.alice)
    download_url = client.get(f"/api/v1/emails/{email.pk}/").json()["attachments"][0][
        "download_url"
    ]

    response = client.get(download_url)
    stranger = client_for(people.stranger).get(download_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert body(response) == b"plain notes"
    assert stranger.status_code == 404


def test_a_wrong_token_is_not_a_login(people: People) -> None:
    attachment = attach(make_email(people.alice))
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(url_of(attachment))

    assert response.status_code == 302


def test_hostile_file_names_cannot_break_the_header(people: People) -> None:
    attachment = attach(
        make_email(people.alice), filename='../räksmörgås "x".pdf\r\nSet-Cookie: a=b'
    )

    response = browser(people.alice).get(url_of(attachment))

    header = response["Content-Disposition"]
    assert response.status_code == 200
    assert "\r" not in header and "\n" not in header
    assert "Set-Cookie" not in response.headers
    assert header.startswith('attachment; filename="')
    assert "filename*=utf-8''" in header
    assert "r%C3%A4ksm%C3%B6rg%C3%A5s" in header  # the exact name, percent-encoded
    assert "/" not in header.split("filename*=")[1]


def test_raw_messages_download_like_attachments(people: People) -> None:
    email = make_email(people.alice)
    email.raw_mime.save("broken.eml", ContentFile(b"Subject: <script>\r\n\r\nbody"))
    url = reverse("activities:raw-message-download", args=[email.pk])

    mine = browser(people.alice).get(url)
    stranger = browser(people.stranger).get(url)

    assert mine.status_code == 200
    assert mine["Content-Disposition"] == f'attachment; filename="message-{email.pk}.eml"'
    assert mine["Content-Type"] == "message/rfc822"
    assert mine["X-Content-Type-Options"] == "nosniff"
    assert stranger.status_code == 404


def test_the_admin_links_to_the_download_views_not_to_the_files(
    people: People, staff_client: Client
) -> None:
    email = make_email(people.alice)
    attachment = attach(email)
    email.raw_mime.save("broken.eml", ContentFile(b"Subject: x\r\n\r\nbody"))

    email_page = staff_client.get(f"/admin/activities/email/{email.pk}/change/")
    attachment_page = staff_client.get(f"/admin/activities/attachment/{attachment.pk}/change/")

    raw_url = reverse("activities:raw-message-download", args=[email.pk])
    for page, expected in ((email_page, (url_of(attachment), raw_url)), (attachment_page, ())):
        html = page.content.decode()
        assert page.status_code == 200
        assert "/media/" not in html
        for url in expected:
            assert f'href="{url}"' in html
    assert f'href="{url_of(attachment)}"' in attachment_page.content.decode()


@pytest.mark.parametrize(
    ("declared", "sent"),
    [
        ("text/html", "application/octet-stream"),
        ("TEXT/HTML; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("multipart/x-mixed-replace; boundary=x", "application/octet-stream"),
        ("", "application/octet-stream"),
        ("image/png", "image/png"),
        ("Image/PNG; name=logo.png", "image/png"),
        ("application/pdf", "application/pdf"),
        ("text/plain; charset=iso-8859-1", "text/plain"),
    ],
)
def test_only_passive_content_types_are_kept(declared: str, sent: str) -> None:
    assert safe_content_type(declared) == sent


def test_content_disposition_gives_an_ascii_fallback_and_the_exact_name() -> None:
    assert content_disposition("Angebot €.pdf") == (
        "attachment; filename=\"Angebot .pdf\"; filename*=utf-8''Angebot%20%E2%82%AC.pdf"
    )
    assert content_disposition("report.pdf") == 'attachment; filename="report.pdf"'
