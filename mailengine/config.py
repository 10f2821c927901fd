"""Settings: config.yaml, overridden by MAILENGINE_* variables; secrets only from the environment.

A wrong key or value stops start-up with a message naming the key, where it was set and what is
allowed. `config.yaml` at the top of the repository documents every key with its default.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from mailengine.config_errors import explain_invalid
from mailengine.errors import ConfigError, SourceError, SourceLocation
from mailengine.yamlsource import YamlDocument, load_yaml_file

ENV_PREFIX = "MAILENGINE_"
CONFIG_PATH_VARIABLE = "MAILENGINE_CONFIG"
TEST_PREFIX = "MAILENGINE_TEST_"  # the test suite's own variables (database, frozen instant)
DEFAULT_CONFIG_PATH = Path("config.yaml")

# Keys whose values are secrets: they may only come from the environment.
SECRET_KEYS: frozenset[tuple[str, ...]] = frozenset({
    ("secret_key",), ("smtp", "password"), ("dkim", "private_key"),
    ("inbound", "imap", "password"), ("http", "metrics_token"),
})  # fmt: skip


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///var/mailengine.db"
    echo: bool = False


class SmtpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    connections: int = Field(default=4, ge=1, le=256)
    per_domain_connections: int | None = Field(default=None, ge=1, le=256)
    rate_per_second: float = Field(default=0, ge=0)
    per_domain_rate: dict[str, float] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=300, gt=0)
    message_timeout_seconds: float = Field(default=120, gt=0)
    retry_for_hours: float = Field(default=72, gt=0)
    capture: bool = True


class SenderSettings(Section):
    from_address: str = "hello@shop.example"
    from_name: str = "Example Shop"
    reply_to: str | None = "support@shop.example"
    postal_address: str = "Example Shop GmbH, Musterstraße 1, 10115 Berlin, Germany"
    bounce_local_part: str = "bounces"
    shop_url: str = "https://shop.example"

    @property
    def domain(self) -> str:
        return self.from_address.rpartition("@")[2].lower()


class DkimSettings(Section):
    enabled: bool = False
    domain: str | None = None
    selector: str = "mail"
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"
    private_key_file: Path | None = None
    private_key: SecretStr | None = None


class HttpSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    api_keys: list[str] = Field(default_factory=list)
    double_opt_in: bool = False
    attribution_days: int = Field(default=5, ge=1, le=90)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=104_857_600)
    link_validity_days: int = Field(default=365, ge=30, le=3650)  # CAN-SPAM: at least 30
    docs: bool = True
    trusted_proxies: list[str] = Field(default_factory=list)
    metrics_token: SecretStr | None = None
    metrics_cache_seconds: float = Field(default=15, ge=0, le=3600)
    workers: int = Field(default=0, ge=0, le=64)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("api_keys")
    @classmethod
    def _hashes(cls, value: list[str]) -> list[str]:
        for item in value:
            if len(item) != 64 or any(ch not in "0123456789abcdef" for ch in item):
                raise ValueError(
                    "api_keys holds sha256 hex digests of keys, not keys: "
                    "make one with `mailengine api-key`"
                )
        return value


class InboundSmtpSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2526, ge=0, le=65535)
    max_message_bytes: int = Field(default=10_000_000, ge=1024)
    max_sessions: int = Field(default=50, ge=1, le=10_000)
    command_timeout_seconds: float = Field(default=300, gt=0, le=3600)


class ImapSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    folder: str = "INBOX"
    poll_seconds: float = Field(default=60, gt=0)


class InboundSettings(Section):
    support_address: str = "support@shop.example"
    team_address: str = "team@shop.example"
    acknowledge_window_hours: float = Field(default=24, gt=0)
    smtp: InboundSmtpSettings = InboundSmtpSettings()
    imap: ImapSettings = ImapSettings()


class ContactPressureSettings(Section):
    max_marketing_emails: int = Field(default=3, ge=1)
    per_days: int = Field(default=7, ge=1)
    quiet_hours: str | None = Field(default=None, pattern=r"^\d\d:\d\d-\d\d:\d\d$")

    @field_validator("quiet_hours")
    @classmethod
    def _real_times(cls, value: str | None) -> str | None:
        if value is not None:
            for part in value.split("-"):
                time.fromisoformat(part)
        return value

    def quiet_times(self) -> tuple[time, time] | None:
        if self.quiet_hours is None:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)


class EngineSettings(Section):
    tick_seconds: float = Field(default=2.0, gt=0)
    misfire_grace_hours: float = Field(default=12, gt=0)
    leadership_check_seconds: float = Field(default=15, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    hold_marketing_during_open_ticket: bool = True
    default_send_hour: int = Field(default=10, ge=0, le=23)
    compose_processes: int = Field(default=0, ge=0, le=256)
    dispatch_processes: int = Field(default=0, ge=0, le=256)
    # How often an idle dispatcher looks for mail that came due with time (a retry, a
    # scheduled send); mail the engine plans is looked for at once (it wakes the dispatchers).
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    lease_seconds: float | None = Field(default=None, gt=0)
    # Chunks of a broadcast planned at once on PostgreSQL, each on its own connection (the
    # server's work per row is what planning waits for); SQLite has one writer and plans one.
    broadcast_planning_connections: int = Field(default=2, ge=1, le=16)


class StudioSettings(Section):
    enabled: bool = False
    allow_insecure_bind: bool = False
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    idle_minutes: float = Field(default=60, gt=0)
    login_attempts_per_address: int = Field(default=5, ge=1, le=1000)
    login_attempts_per_ip: int = Field(default=20, ge=1, le=100_000)
    lockout_max_minutes: float = Field(default=60, gt=0)
    # How long one question a studio page asks the database (an audience count, a search
    # through every customer) may run before it is stopped.
    query_seconds: float = Field(default=10, gt=0, le=300)


class PathsSettings(Section):
    workflows: Path = Path("workflows")
    broadcasts: Path = Path("broadcasts")
    templates: Path = Path("templates")
    polls: Path = Path("polls")
    questionnaires: Path = Path("questionnaires")
    var: Path = Path("var")


class Settings(Section):
    """Every setting mailengine reads, with its default."""

    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    sender: SenderSettings = SenderSettings()
    dkim: DkimSettings = DkimSettings()
    http: HttpSettings = HttpSettings()
    inbound: InboundSettings = InboundSettings()
    contact_pressure: ContactPressureSettings = ContactPressureSettings()
    engine: EngineSettings = EngineSettings()
    studio: StudioSettings = StudioSettings()
    paths: PathsSettings = PathsSettings()
    timezone: str = "Europe/Berlin"
    locale: str = "en_US"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    secret_key: SecretStr | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def config_path_from(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (a named file must exist)."""
    if explicit is not None:
        return explicit, True
    from_env = environ.get(CONFIG_PATH_VARIABLE)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (or MAILENGINE_CONFIG, or ./config.yaml) and the environment."""
    env = os.environ if environ is None else environ
    config_path, named = config_path_from(path, env)
    document: YamlDocument | None = None
    if config_path.exists() or named:
        try:
            document = load_yaml_file(config_path)
        except SourceError as error:
            raise ConfigError(error.message, location=error.location) from error
    data: Any = document.data if document is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", location=_at(document, ()))
    for secret in SECRET_KEYS:
        if _lookup(data, secret) is not None:
            raise ConfigError(
                f"{'.'.join(secret)} is a secret and is read only from the environment: "
                f"remove it from the file and set {env_name(secret)}",
                location=_at(document, secret),
            )
    from_env = _apply_environment(data, env)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise explain_invalid(error, Settings, document, from_env) from None
    return _resolve_paths(settings, config_path.resolve().parent)


def env_name(key: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in key)


def _lookup(data: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _at(document: YamlDocument | None, key: tuple[str | int, ...]) -> SourceLocation | None:
    return document.location(key) if document is not None else None


def _apply_environment(
    data: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Merge MAILENGINE_A__B=value into data["a"]["b"]; return which keys came from where."""
    applied: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_PATH_VARIABLE:
            continue
        if name.startswith(TEST_PREFIX):
            continue
        key = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(key):
            raise ConfigError(f"{name}: empty part in the variable name")
        target = data
        for part in key[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        target[key[-1]] = _env_value(raw)
        applied[key] = name
    return applied


def _env_value(raw: str) -> Any:
    """JSON for lists and mappings (`{"gmail.com": 20}`); everything else stays text."""
    stripped = raw.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths (and a relative SQLite file) are relative to the config file's folder."""

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    paths = settings.paths.model_copy(
        update={
            name: resolve(getattr(settings.paths, name))
            for name in ("workflows", "broadcasts", "templates", "polls", "questionnaires", "var")
        }
    )
    url = settings.database.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        file_part = url[len(prefix) :]
        if file_part and file_part != ":memory:":
            url = prefix + str(base / file_part)
    dkim = settings.dkim
    if dkim.private_key_file is not None:
        dkim = dkim.model_copy(update={"private_key_file": resolve(dkim.private_key_file)})
    return settings.model_copy(
        update={
            "paths": paths,
            "database": settings.database.model_copy(update={"url": url}),
            "dkim": dkim,
        }
    )
