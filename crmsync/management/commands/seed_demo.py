"""Demo data for the README's run command: an admin, users, a queue, profiles, mailboxes,
accounts, contacts and a few activities. Running it twice changes nothing."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from activities.models import Account, Appointment, ChangeOrigin, Contact, Email, Task
from mailboxes.models import Mailbox, Queue
from mailboxes.sync.eligibility import approve
from profiles.models import EmailServerProfile
from profiles.saving import create_profile, save_profile
from users.models import User

DEMO_PASSWORD = "demo"  # noqa: S105  (printed for the demo; the demo only listens on loopback)
# The application scripts/demo registers on the emulator's Entra ID (only on loopback).
DEMO_TENANT = "demo.onmicrosoft.com"
DEMO_APP_ID = "crmsync-demo"
DEMO_APP_SECRET = "demo-app-secret"  # noqa: S105
M365_MAILBOX = "carol@example.com"


def _profile(name: str, **fields: Any) -> EmailServerProfile:
    """The profile of this name with these fields, made or updated through `save_profile`
    (an active profile keeps its server type's rules)."""
    profile = EmailServerProfile.objects.filter(name=name).first() or EmailServerProfile(name=name)
    for field, value in fields.items():
        setattr(profile, field, value)
    return save_profile(profile)


class Command(BaseCommand):
    help = "Creates the demo admin and demo data (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ews-url",
            default="",
            help="EWS endpoint of the emulator the demo mailboxes sync with.",
        )
        parser.add_argument(
            "--graph-url",
            default="",
            help="https base of the emulator's Entra ID and Graph (https://127.0.0.1:PORT): "
            "a Microsoft 365 profile with Carol's mailbox on it.",
        )
        parser.add_argument(
            "--mailbox-password",
            default="secret",
            help="Password of the demo users' mailboxes on the emulator.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        ews_url: str = options["ews_url"]
        profile = _profile(
            "Demo Exchange",
            is_default=True,
            # Without an EWS URL an Exchange profile breaks its type's rules: inactive.
            is_active=bool(ews_url),
            server_type=EmailServerProfile.ServerType.EXCHANGE,
            incoming_server_location=ews_url,
            incoming_use_ssl=ews_url.startswith("https"),
            incoming_authentication_protocol=EmailServerProfile.AuthenticationProtocol.BASIC,
            incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PER_MAILBOX,
            min_polling_interval_minutes=1,
            description="The EWS emulator started by the demo.",
        )
        imap = EmailServerProfile.objects.filter(name="Demo IMAP").first() or create_profile(
            name="Demo IMAP",
            server_type=EmailServerProfile.ServerType.IMAP_SMTP,
            incoming_server_location="imap.example.com",
            incoming_port=993,
            outgoing_server_location="smtp.example.com",
            outgoing_port=587,
            use_same_settings_for_outgoing=False,
            is_active=False,
            description="An example of a POP3/IMAP + SMTP profile, inactive: the demo "
            "runs no IMAP or SMTP server. The Sales queue's mailbox uses it.",
        )

        admin = self._user("admin", "Ada", "Admin", staff=True)
        alice = self._user("alice", "Alice", "Archer")
        bob = self._user("bob", "Bob", "Baker")
        queue, _ = Queue.objects.get_or_create(
            name="Support",
            defaults={"email_address": "support@example.com", "owner": alice},
        )
        queue.members.add(alice, bob)

        # A mailbox on the IMAP profile, to show its forms and an honest status ("Email
        # server profile turned off"): the demo has no IMAP server to sync with.
        sales, _ = Queue.objects.get_or_create(
            name="Sales",
            defaults={"email_address": "sales@example.com", "owner": bob},
        )
        Mailbox.objects.filter(queue=sales).update(profile=imap)

        demo_mailboxes = Mailbox.objects.filter(user__in=[alice, bob]) | Mailbox.objects.filter(
            queue=queue
        )
        for mailbox in demo_mailboxes:
            mailbox.profile = profile
            approve(mailbox)
            mailbox.username = mailbox.email_address
            mailbox.password = options["mailbox_password"]
            mailbox.save()

        if options["graph_url"]:
            self._microsoft_365(options["graph_url"], self._user("carol", "Carol", "Clark"))

        if not Account.objects.exists():
            self._crm_records(alice, bob, queue)
        self.stdout.write(
            f"Demo data ready: admin login '{admin.username}' / '{DEMO_PASSWORD}', "
            f"users 'alice', 'bob' (and 'carol' on Microsoft 365) / '{DEMO_PASSWORD}'."
        )

    def _microsoft_365(self, graph_url: str, carol: User) -> None:
        """A Microsoft 365 (Graph) profile on the emulator's application, Carol's mailbox."""
        base = graph_url.rstrip("/")
        profile = _profile(
            "Demo Microsoft 365",
            server_type=EmailServerProfile.ServerType.MICROSOFT_365,
            oauth_tenant_id=DEMO_TENANT,
            oauth_client_id=DEMO_APP_ID,
            oauth_client_secret=DEMO_APP_SECRET,
            oauth_authority_host=base,
            graph_endpoint=f"{base}/v1.0",
            incoming_server_location="",
            min_polling_interval_minutes=1,
            description="The emulator's Microsoft Graph, with a demo application "
            "registered in its Entra ID.",
        )
        mailbox = Mailbox.objects.filter(user=carol).first()
        if mailbox is not None:
            mailbox.profile = profile
            mailbox.email_address = M365_MAILBOX
            approve(mailbox)
            mailbox.save()

    def _user(self, username: str, first: str, last: str, *, staff: bool = False) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                is_staff=staff,
                is_superuser=staff,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _crm_records(self, alice: User, bob: User, queue: Queue) -> None:
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        contoso = Account.objects.create(
            name="Contoso Ltd", email_address="info@contoso.example", owner_user=alice
        )
        fabrikam = Account.objects.create(
            name="Fabrikam Inc", email_address="hello@fabrikam.example", owner_user=bob
        )
        Contact.objects.create(
            first_name="Carla",
            last_name="Conti",
            company_name="Contoso Ltd",
            account=contoso,
            email_address1="carla@contoso.example",
            phone_numbers={"business": "+1 555 0100", "mobile": "+1 555 0101"},
            addresses={"business": {"street": "1 Main St", "city": "Springfield"}},
            owner_user=alice,
        )
        Contact.objects.create(
            first_name="Frank",
            last_name="Fischer",
            company_name="Fabrikam Inc",
            account=fabrikam,
            email_address1="frank@fabrikam.example",
            owner_user=bob,
        )
        Appointment.objects.create(
            subject="Quarterly review with Contoso",
            location="Meeting room 1",
            start=now + timedelta(days=1, hours=2),
            end=now + timedelta(days=1, hours=3),
            owner_user=alice,
            regarding=contoso,
            change_origin=ChangeOrigin.CRM_USER,
        )
        Task.objects.create(
            subject="Send the Fabrikam proposal",
            due_date=now + timedelta(days=3),
            priority=Task.Priority.HIGH,
            owner_user=bob,
            regarding=fabrikam,
        )
        Email.objects.create(
            subject="Welcome to Support",
            direction=Email.Direction.OUTGOING,
            status=Email.Status.DRAFT,
            body_text="Hello, how can we help?",
            owner_queue=queue,
        )
