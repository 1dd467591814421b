"""Settings from PORTAL_* variables: sensible local defaults, and production refuses to guess."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import ConfigError, load_settings


def test_defaults_for_local_use(tmp_path):
    settings = load_settings({}, tmp_path)
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.smtp_url is None
    assert settings.ratelimit_storage_uri == "memory://"
    # The generated key is kept, private, and reused on the next start.
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_settings({}, tmp_path).secret_key == settings.secret_key == key_file.read_text()
    assert len(settings.secret_key) >= 64


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY is not set"):
        load_settings({"ENV": "production"}, tmp_path)
    assert not (tmp_path / "secret_key").exists()  # and does not quietly make one up
    with pytest.raises(ConfigError, match="too short"):
        load_settings({"ENV": "production", "SECRET_KEY": "short"}, tmp_path)


@pytest.mark.parametrize(("raw", "message"), [
    ({"ENV": "staging"}, "PORTAL_ENV must be one of"),
    ({"BASE_URL": "portal.example.org"}, "PORTAL_BASE_URL must be"),
    ({"SMTP_URL": "http://mail"}, "PORTAL_SMTP_URL must start with"),
])
def test_wrong_settings_name_the_variable(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"SECRET_KEY": "k" * 40, **raw}, tmp_path)


def test_settings_come_from_portal_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "e" * 40)
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.org/")
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("PORTAL_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    app = create_app()
    settings = app.extensions["portal.settings"]
    assert settings.database_url.endswith("env.sqlite3")
    assert app.config["SECRET_KEY"] == "e" * 40
    assert settings.base_url == "https://portal.example.org"
    assert settings.smtp_url == "smtp://127.0.0.1:2525"
    assert settings.ratelimit_storage_uri == "redis://127.0.0.1:6379"
    assert app.config["SESSION_COOKIE_SECURE"] is True  # https base URL: cookies only over https
    app.extensions["portal.db"].dispose()


def test_production_app_will_not_start_without_a_key(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app()
