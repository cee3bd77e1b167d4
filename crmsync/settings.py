"""crmsync settings, read from the environment (README.md lists every variable).

Defaults are those of the demo: a SQLite file and an embedded broker in the data directory.
Production sets DEBUG=false, SECRET_KEY, ALLOWED_HOSTS, CRMSYNC_ENCRYPTION_KEYS,
DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://...
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from crmsync.env import (
    check_notification_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    require_production_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CRMSYNC_DATA_DIR", str(BASE_DIR / "data"))).resolve()

DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-crmsync-development-only-key-never-use-in-production-0123"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else None)
if not DEBUG:
    require_production_secret_key(SECRET_KEY, development_key=_DEV_SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "crmsync",
    "users",
    "profiles",
    "mailboxes",
    "activities",
]

MIDDLEWARE = [
    "crmsync.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # PostgreSQL refuses NUL in text: a NUL in the request's data is a 400 naming the field.
    "crmsync.null_characters.NullCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crmsync.timezones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, as django-axes requires: it turns a refused sign-in into the lockout page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crmsync.urls"
WSGI_APPLICATION = "crmsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'crmsync.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Workers, beat and the web server share one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that worker processes started by end-to-end tests share it;
    # per process, so that test runs side by side do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
# Whitenoise serves STATIC_ROOT to anyone; attachments are downloaded only through the view
# that checks who may see them (`activities.downloads`), never as files.
if MEDIA_ROOT.resolve().is_relative_to(STATIC_ROOT.resolve()):
    raise ImproperlyConfigured(
        "MEDIA_ROOT must not be inside STATIC_ROOT: static files are served to anyone."
    )
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes; crmsync/login_throttle.py) ------------------------------
# The axes backend first refuses a locked-out user name or address, then the model backend checks
# the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Either counts alone: many passwords tried for one user, or many users tried from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crmsync.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "crmsync.login_throttle.client_address"
# Proxies in front that append the client's address to X-Forwarded-For (the TLS proxy: 1).
CRMSYNC_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# Successful sign-ins are not logged one row each (users keep last_login); failures are counted
# and logged as warnings, with the password and the form's token masked.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]

# --- Security: production defaults, relaxed only by DEBUG -----------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Credentials encryption (not SECRET_KEY: its own rotatable key list) ----------------------
# Comma-separated Fernet keys; the first encrypts, all decrypt. Generate one with
#   python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
CRMSYNC_ENCRYPTION_KEYS = env_list("CRMSYNC_ENCRYPTION_KEYS", [])
if not CRMSYNC_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "CRMSYNC_ENCRYPTION_KEYS is required when DEBUG is off (comma-separated Fernet keys)."
        )
    # Development only: a key kept in the data directory, made on first use.
    CRMSYNC_ENCRYPTION_KEY_FILE = DATA_DIR / "encryption.key"

# --- Celery ---------------------------------------------------------------------------------
_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in the data directory, no server needed.
    for _folder in ("queue", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dispatch-due-mailboxes": {
        "task": "mailboxes.tasks.dispatch_due_mailboxes",
        "schedule": timedelta(seconds=env_int("CRMSYNC_DISPATCH_SECONDS", 30, minimum=1)),
    },
    "delete-old-sync-runs": {
        "task": "mailboxes.tasks.delete_old_sync_runs",
        "schedule": timedelta(hours=6),
    },
    "delete-orphan-files": {
        "task": "mailboxes.tasks.delete_orphan_files",
        "schedule": timedelta(hours=24),
    },
    "forget-old-processed-reasons": {
        "task": "mailboxes.tasks.forget_old_processed_reasons",
        "schedule": timedelta(hours=6),
    },
    "maintain-graph-subscriptions": {
        "task": "mailboxes.tasks.maintain_graph_subscriptions",
        "schedule": timedelta(minutes=5),
    },
}

# --- crmsync behaviour ----------------------------------------------------------------------
# How long a worker's claim on a mailbox lasts without a heartbeat before another worker may
# take it over. The holder renews it every third of this, so a dead worker's mailbox is taken
# over after about three missed heartbeats (within two minutes with the 30 s dispatch).
CRMSYNC_CLAIM_SECONDS = env_int("CRMSYNC_CLAIM_SECONDS", 90, minimum=30)
# Transient failures in a row after which a mailbox is treated as failed.
CRMSYNC_MAX_TRANSIENT_FAILURES = env_int("CRMSYNC_MAX_TRANSIENT_FAILURES", 10, minimum=1)
# Largest attachment stored; larger ones are kept as metadata with an error.
CRMSYNC_MAX_ATTACHMENT_BYTES = env_int("CRMSYNC_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024, minimum=0)
# How long the mailbox page waits for a worker's result ("Sync now", "Test connection",
# "Refresh folder list") before it says that no worker is answering.
CRMSYNC_WORKER_WAIT_SECONDS = env_int("CRMSYNC_WORKER_WAIT_SECONDS", 120, minimum=1)

# --- Microsoft Graph change notifications (mailboxes/webhooks) --------------------------------
# The public https address of the notification view (/graph/notifications/ behind the TLS
# proxy), given to Graph when subscribing. Empty: no subscriptions, polling covers everything.
CRMSYNC_GRAPH_NOTIFICATION_URL = env_str("CRMSYNC_GRAPH_NOTIFICATION_URL", "")
check_notification_url(
    "CRMSYNC_GRAPH_NOTIFICATION_URL", CRMSYNC_GRAPH_NOTIFICATION_URL, debug=DEBUG
)
# While live subscriptions cover everything a mailbox syncs, an idle mailbox is still polled
# at least this often, for notifications Graph lost without telling.
CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES = env_int("CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES", 60, minimum=1)

# --- Email ----------------------------------------------------------------------------------
# What precedes the digits of the tracking token in the subject of CRM email
# ("Quote for May CRM:0001234"), and the least number of digits.
CRMSYNC_TRACKING_TOKEN_PREFIX = env_str("CRMSYNC_TRACKING_TOKEN_PREFIX", "CRM:")
if CRMSYNC_TRACKING_TOKEN_PREFIX[-1].isspace() or CRMSYNC_TRACKING_TOKEN_PREFIX[-1].isdigit():
    raise ImproperlyConfigured(
        f"Environment variable CRMSYNC_TRACKING_TOKEN_PREFIX={CRMSYNC_TRACKING_TOKEN_PREFIX!r} "
        "must not end in a digit or a space."
    )
CRMSYNC_TRACKING_TOKEN_DIGITS = env_int("CRMSYNC_TRACKING_TOKEN_DIGITS", 7, minimum=3)
if CRMSYNC_TRACKING_TOKEN_DIGITS > 12:
    raise ImproperlyConfigured(
        f"Environment variable CRMSYNC_TRACKING_TOKEN_DIGITS={CRMSYNC_TRACKING_TOKEN_DIGITS} "
        "is above 12."
    )
# Attempts before an outgoing email is "failed"; the first retry delay, doubled each time.
CRMSYNC_SEND_MAX_ATTEMPTS = env_int("CRMSYNC_SEND_MAX_ATTEMPTS", 5, minimum=1)
CRMSYNC_SEND_RETRY_SECONDS = env_int("CRMSYNC_SEND_RETRY_SECONDS", 60, minimum=0)
# After this a "sending" claim is stale and the email may be taken over (after checking Sent
# Items where the server allows it).
CRMSYNC_SEND_CLAIM_SECONDS = env_int("CRMSYNC_SEND_CLAIM_SECONDS", 600, minimum=1)
# How far back smart matching looks for the email a reply answers.
CRMSYNC_SMART_MATCH_DAYS = env_int("CRMSYNC_SMART_MATCH_DAYS", 30, minimum=0)
# Messages fetched per round trip, and filed per cycle and mailbox (the rest waits for the
# next cycle: a first sync of a big mailbox spans several claims).
CRMSYNC_INCOMING_BATCH = env_int("CRMSYNC_INCOMING_BATCH", 200, minimum=1)
CRMSYNC_INCOMING_MAX_PER_CYCLE = env_int("CRMSYNC_INCOMING_MAX_PER_CYCLE", 5000, minimum=1)
# How long the "why was this not tracked?" details of a processed message (sender, subject,
# Message-ID, reason, and the raw MIME of a message left out) are kept.
CRMSYNC_PROCESSED_REASON_DAYS = env_int("CRMSYNC_PROCESSED_REASON_DAYS", 90, minimum=1)

# Microsoft 365 (Graph): concurrent requests per mailbox across all workers (Microsoft allows
# 4 per application and mailbox), how long a request waits for a free slot before the mailbox
# is postponed, where the slots are counted (the broker when it is Redis), and a CA bundle
# for Entra ID, Graph and EWS-with-OAuth2 certificates (a private test tenant; empty: the
# system's).
CRMSYNC_GRAPH_MAX_CONCURRENT_REQUESTS = env_int(
    "CRMSYNC_GRAPH_MAX_CONCURRENT_REQUESTS", 4, minimum=1
)
CRMSYNC_GRAPH_SLOT_WAIT_MS = env_int("CRMSYNC_GRAPH_SLOT_WAIT_MS", 2000, minimum=0)
# Requests per mailbox in any 10 minutes across all workers: Microsoft's limit per
# application and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = env_int(
    "CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES", 10_000, minimum=100
)
# CRM record ids written on items a cycle (after the pull) where the connector defers them
# (Graph): a quarter of Microsoft's budget of 10,000 requests per mailbox and 10 minutes;
# however many cycles run, the marks fill at most three quarters of those 10 minutes.
CRMSYNC_GRAPH_STAMPS_PER_CYCLE = env_int("CRMSYNC_GRAPH_STAMPS_PER_CYCLE", 2500, minimum=1)
CRMSYNC_REDIS_URL = env_str(
    "CRMSYNC_REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
CRMSYNC_MICROSOFT_CA_BUNDLE = env_str("CRMSYNC_MICROSOFT_CA_BUNDLE", "")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "activities.api.authentication.LimitedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_RATE", "6000/hour")},
}
# Wrong API tokens per client address before every token from it is refused for the window
# (activities/api/authentication.py).
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 20, minimum=1)
API_AUTH_FAILURE_MINUTES = env_int("API_AUTH_FAILURE_MINUTES", 10, minimum=1)

# --- Cache ----------------------------------------------------------------------------------
# API rate limits and wrong-token counts must be shared by every web process: Redis when the
# installation has one (CRMSYNC_CACHE_URL, by default CRMSYNC_REDIS_URL), else each process's
# memory ("locmem://": the demo's single process). The test command uses locmem:// because tests
# clear the cache, which on Redis would flush the broker's database.
CRMSYNC_CACHE_URL = env_str("CRMSYNC_CACHE_URL", CRMSYNC_REDIS_URL or "locmem://")
if CRMSYNC_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CRMSYNC_CACHE_URL,
            "KEY_PREFIX": "crmsync",
        }
    }
elif CRMSYNC_CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(
        f"CRMSYNC_CACHE_URL={CRMSYNC_CACHE_URL!r} is neither a redis:// URL nor locmem://."
    )
SPECTACULAR_SETTINGS = {
    "TITLE": "crmsync API",
    "DESCRIPTION": "Activities, contacts and accounts synchronized with Exchange.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"exchangelib": {"level": "WARNING"}},
}
