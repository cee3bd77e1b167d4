from django.apps import AppConfig
from django.conf import settings


class CrmsyncConfig(AppConfig):
    name = "crmsync"
    verbose_name = "crmsync"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from crmsync.crypto import encrypted_fields, keep_fixture_ciphertext, multi_fernet

        for model, _fields in encrypted_fields():
            pre_save.connect(
                keep_fixture_ciphertext,
                sender=model,
                dispatch_uid=f"keep-fixture-ciphertext-{model._meta.label}",
            )

        # A malformed key would otherwise only surface at the first credential read, in a
        # worker, long after the deployment; check it when the process starts.
        if settings.CRMSYNC_ENCRYPTION_KEYS:
            multi_fernet()
