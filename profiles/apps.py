from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Email servers"

    def ready(self) -> None:
        from profiles import checks  # noqa: F401  (registers the system check)
