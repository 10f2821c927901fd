"""Settings: defaults, the environment, secrets, and errors that name the key and the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from mailengine.config import Settings, load_settings
from mailengine.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    "secret_key",
    "smtp.password",
    "dkim.private_key",
    "inbound.imap.password",
    "http.metrics_token",
}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_documents_every_key_with_its_default() -> None:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))

    def walk(model: type[BaseModel], data: dict[str, Any], prefix: str) -> None:
        for name, info in model.model_fields.items():
            if (prefix + name) in SECRETS:
                continue
            assert name in data, f"config.yaml does not document {prefix}{name}"
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, data[name], f"{prefix}{name}.")
            else:
                default = info.get_default(call_default_factory=True)
                shown = Path(data[name]) if isinstance(default, Path) else data[name]
                assert shown == default, f"{prefix}{name} differs from its default"

    walk(Settings, shipped, "")
    settings = load_settings(REPO / "config.yaml", environ={})
    assert settings.smtp.port == 2525
    assert settings.paths.templates == REPO / "templates"


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.timezone == "Europe/Berlin"
    assert settings.database.url == f"sqlite:///{tmp_path / 'var' / 'mailengine.db'}"


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    path = _config(tmp_path, "smtp:\n  port: 25\n")
    settings = load_settings(
        path,
        environ={
            "MAILENGINE_SMTP__PORT": "587",
            "MAILENGINE_SMTP__PASSWORD": "s3cret",
            "MAILENGINE_SMTP__PER_DOMAIN_RATE": '{"gmail.com": 20}',
            "MAILENGINE_INBOUND__SMTP__PORT": "2600",
            "MAILENGINE_TIMEZONE": "America/New_York",
            "MAILENGINE_TEST_NOW": "2026-10-25T02:30:00+01:00",  # the test suite's, ignored
            "OTHER": "ignored",
        },
    )
    assert settings.smtp.port == 587
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.smtp.per_domain_rate == {"gmail.com": 20.0}
    assert settings.inbound.smtp.port == 2600
    assert settings.timezone == "America/New_York"


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    path = _config(tmp_path, "currency: USD\n")
    assert load_settings(environ={"MAILENGINE_CONFIG": str(path)}).currency == "USD"


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, "smtp:\n  host: mail.example\n  password: hunter2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value) == (
        f"{path}:3:3: smtp.password is a secret and is read only from the environment: "
        "remove it from the file and set MAILENGINE_SMTP__PASSWORD"
    )


def test_unknown_key_names_the_place_and_the_allowed_keys(tmp_path: Path) -> None:
    path = _config(tmp_path, "smtp:\n  host: a\n  prot: 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert f"{path}:3:3: unknown key 'prot' in smtp (did you mean 'port'?); allowed: " in message
    assert "connections, host, message_timeout_seconds, password" in message


def test_wrong_values_name_the_key_and_what_is_allowed(tmp_path: Path) -> None:
    path = _config(tmp_path, "smtp:\n  tls: maybe\n  connections: 0\ntimezone: Mars/Base\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={"MAILENGINE_HTTP__PORT": "eighty"})
    message = str(caught.value)
    assert f"{path}:2:3: smtp.tls: Input should be 'none', 'starttls' or 'tls'" in message
    assert f"{path}:3:3: smtp.connections: Input should be greater than or equal to 1" in message
    assert f"{path}:4:1: timezone: Value error, unknown time zone 'Mars/Base'" in message
    assert "MAILENGINE_HTTP__PORT: http.port: Input should be a valid integer" in message


def test_unknown_environment_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'prot' in smtp"):
        load_settings(_config(tmp_path, ""), environ={"MAILENGINE_SMTP__PROT": "1"})


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = _config(tmp_path, "smtp:\n  host: [a\n")
    with pytest.raises(ConfigError, match=rf"{path}:3:1: invalid YAML"):
        load_settings(path, environ={})


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    path = _config(folder, "database:\n  url: sqlite:///data/shop.db\npaths:\n  templates: mail\n")
    settings = load_settings(path, environ={})
    assert settings.database.url == f"sqlite:///{folder / 'data' / 'shop.db'}"
    assert settings.paths.templates == folder / "mail"
    assert settings.paths.workflows == folder / "workflows"
