from django.apps import AppConfig
from django.conf import settings


class CrmsyncConfig(AppConfig):
    name = "crmsync"
    verbose_name = "crmsync"

    def ready(self) -> None:
        from crmsync.crypto import multi_fernet

        # A malformed key would otherwise only surface at the first credential read, in a
        # worker, long after the deployment; check it when the process starts.
        if settings.CRMSYNC_ENCRYPTION_KEYS:
            multi_fernet()
