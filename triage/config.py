"""The one typed settings object of the web, worker and beat processes, read from the environment.

Every variable is listed with its default in `.env.example`. Secrets (`TELEGRAM_BOT_TOKEN`,
`TELEGRAM_WEBHOOK_SECRET`, `IMAGE_ENCRYPTION_KEYS`, `DATABASE_URL`, `BROKER_URL`, `FHIR_SERVER_AUTHORIZATION`) may
instead be given as a path
in `<NAME>_FILE` (Docker/Kubernetes secrets). `load_settings()` raises `ConfigError` with one line naming the
bad variable; each process prints it and exits with status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FIELDS = ("telegram_bot_token", "telegram_webhook_secret", "image_encryption_keys", "database_url", "broker_url",
                 "fhir_server_authorization")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """The configuration is unusable; the message names the variable and says what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

    # Where local state lives on the embedded default: the SQLite file, the broker folder, the image store.
    data_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    celery_queue: str = Field(default="cases", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    telegram_bot_token: str = ""
    telegram_mode: Literal["webhook", "polling"] = "polling"
    telegram_webhook_url: str = Field(default="", description="public https URL Telegram posts updates to")
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str = "https://api.telegram.org/file/bot"
    clinician_chat_id: int | None = None
    # The bot's @username without the @, for the deep links the inbox shows (clinic posters, health-worker invites).
    telegram_bot_username: str = Field(default="", pattern=r"^([A-Za-z][A-Za-z0-9_]{3,31})?$")
    # Connections to the Bot API kept open at once (bot/telegram_http.py).
    telegram_connection_pool_size: int = Field(default=32, ge=1, le=256)
    telegram_max_messages_per_s: float = Field(default=30, gt=0, description="Telegram's overall sending limit")
    organisation: str = Field(default="default", pattern=r"^[a-z0-9_-]{1,64}$", description="organisation of new cases")
    inbox_base_url: str = Field(default="", description="public URL of the clinician inbox, for alert links")
    realert_unclaimed_after_s: int = Field(default=1800, ge=60)
    inbox_cookie_secure: bool = Field(default=True, description="session cookie over HTTPS only")
    inbox_session_max_age_s: int = Field(default=12 * 3600, ge=300, le=7 * 24 * 3600)
    inbox_session_idle_s: int = Field(default=2 * 3600, ge=60, le=7 * 24 * 3600)
    inbox_max_form_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)

    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    max_concurrent_updates: int = Field(default=16, ge=1, le=256)
    rate_limit_burst: int = Field(default=20, ge=1, description="updates a patient may send at once")
    rate_limit_per_s: float = Field(default=2.0, gt=0, description="sustained updates per second per patient")
    outbox_poll_interval_s: float = Field(default=0.2, gt=0, le=60)

    model_server_url: str = "http://127.0.0.1:8090"
    model_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    model_max_attempts: int = Field(default=3, ge=1, le=20)
    model_retry_backoff_s: float = Field(default=2.0, ge=0, le=600)

    image_encryption_keys: str = Field(default="", description="comma-separated Fernet keys, newest first")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=10_000)

    consent_version: str = "2026-11"
    stuck_case_after_s: int = Field(default=900, ge=5)
    recovery_interval_s: float = Field(default=60.0, ge=1, description="how often beat looks for stuck cases")
    dispatch_interval_s: float = Field(default=5.0, ge=1, le=300,
                                       description="how often beat sends tasks nobody sent (a backstop)")
    broker_visibility_timeout_s: int = Field(default=3600, ge=5, description="Redis: redelivery of unacked tasks")
    retention_days: int = Field(default=90, ge=1)
    # Tracked lesions (bot/README.md "Following a spot"): the coin patients put beside the spot for scale, as the
    # patient reads it ("a 5-shilling coin"; empty: "a silver-coloured coin, the same one every time"), and its
    # diameter (None: sizes are compared relative to the coin, without millimetres).
    lesion_coin_name: str = Field(default="", max_length=60)
    lesion_coin_diameter_mm: float | None = Field(default=None, ge=10, le=45)
    lesion_reminder_interval_s: float = Field(default=300.0, ge=10, le=3600,
                                              description="how often beat looks for lesions due a new photo")

    # FHIR (docs/interoperability.md): closed cases pushed to this server's base URL; empty: no pushes.
    fhir_server_url: str = ""
    fhir_server_authorization: str = Field(default="", description="the Authorization header's value (secret)")
    fhir_push_interval_s: float = Field(default=60.0, ge=5, le=3600, description="how often beat looks for versions")
    fhir_push_max_attempts: int = Field(default=10, ge=1, le=50)
    fhir_push_backoff_s: float = Field(default=30.0, ge=1, le=3600, description="first retry delay, doubling")
    fhir_timeout_s: float = Field(default=60.0, gt=0, le=600)
    fhir_push_photos: bool = Field(default=True, description="photos inline in pushed bundles")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("clinician_chat_id", "lesion_coin_diameter_mm", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "telegram_api_base_url", "telegram_api_file_url", "model_server_url", "telegram_webhook_url", "inbox_base_url",
        "fhir_server_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_token(cls, value: str) -> str:
        if value and not _SECRET_TOKEN_RE.match(value):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)")
        return value

    @field_validator("fhir_server_authorization")
    @classmethod
    def _header_value(cls, value: str) -> str:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be one line without control characters (an HTTP header value)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_mode == "webhook" and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL; on the embedded default a SQLite file in `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dermatriage.sqlite3').resolve()}"

    @cached_property
    def resolved_broker_url(self) -> str:
        """The Celery broker; on the embedded default a folder queue in `data_dir` that needs no server."""
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def image_dir(self) -> Path:
        return (self.data_dir / "images").resolve()

    @property
    def key_file(self) -> Path:
        return (self.data_dir / "image-encryption.key").resolve()

    def require_bot_token(self) -> str:
        if not self.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and set its token")
        return self.telegram_bot_token


def _read_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SECRET_FIELDS:
        var = f"{name.upper()}_FILE"
        path = env.get(var) or env.get(var.lower())
        if not path:
            continue
        if env.get(name.upper()):
            raise ConfigError(f"{name.upper()} and {var} are both set: set only one")
        try:
            values[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{var}: cannot read {path}: {exc.strerror or exc}") from None
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings. Raises `ConfigError` naming the first bad variable."""
    env = os.environ if env is None else env
    overrides = _read_secret_files(env)
    lowered = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    lowered.update(overrides)
    try:
        return Settings.model_validate(lowered)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]).upper()
        message = err["msg"].removeprefix("Value error, ")
        if not loc:
            raise ConfigError(message) from None
        shown = "" if err["loc"][0] in SECRET_FIELDS else f" (got {err.get('input')!r})"[:80]
        raise ConfigError(f"{loc}: {message}{shown}") from None
