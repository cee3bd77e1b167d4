from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "mailboxes"
    verbose_name = "Server-side synchronization"

    def ready(self) -> None:
        from mailboxes import signals  # noqa: F401  (connects the automatic mailbox)
        from mailboxes.sync import crm_signals  # noqa: F401  (CRM changes reach the sync)
