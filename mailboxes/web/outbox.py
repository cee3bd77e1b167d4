"""The owner's word on outgoing email that may have been sent (SMTP without IMAP, see
`mailboxes/mail/outgoing.py`): send it again, or mark it sent."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from activities.models import Email
from mailboxes.mail.outgoing import mark_sent, send_again
from mailboxes.models import Mailbox
from mailboxes.web.access import get_manageable_mailbox
from users.models import User


def uncertain_emails(mailbox: Mailbox) -> list[Email]:
    """The mailbox's emails that may have been sent, oldest first."""
    return list(
        Email.objects.filter(
            mailbox=mailbox,
            direction=Email.Direction.OUTGOING,
            status=Email.Status.UNCERTAIN,
        )
        .prefetch_related("parties")
        .order_by("modified_at", "pk")
    )


@login_required
@require_POST
def decide_uncertain_email(request: HttpRequest, mailbox_id: int, email_id: int) -> HttpResponse:
    assert isinstance(request.user, User)
    mailbox = get_manageable_mailbox(request.user, mailbox_id)
    email = get_object_or_404(Email, pk=email_id, mailbox=mailbox)
    back = reverse("mailboxes:mailbox", args=[mailbox.pk]) + "#outbox"
    rows = Email.objects.filter(pk=email.pk)
    decision = request.POST.get("decision", "")
    if decision == "send_again" and send_again(rows.filter(status=Email.Status.UNCERTAIN)):
        messages.success(request, f"“{email}” will be sent again at the next synchronization.")
    elif decision == "mark_sent" and mark_sent(rows):
        messages.success(request, f"“{email}” is marked sent.")
    elif decision in ("send_again", "mark_sent"):
        messages.info(request, f"“{email}” was decided already.")
    else:
        messages.error(request, "Choose whether to send it again or mark it sent.")
    return HttpResponseRedirect(back)
