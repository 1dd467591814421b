"""Settings from `PORTAL_*` environment variables, validated once at start-up.

Flask's `from_prefixed_env("PORTAL")` strips the prefix, so `PORTAL_DATABASE_URL` arrives as
`DATABASE_URL`; `create_app(overrides)` may set the same keys. Every setting is documented in the README.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the register is loaded beside the settings; only its systems and recipients are read here
    from portal.policy.register import Register

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the environment variable to fix."""


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    base_url: str
    smtp_url: str | None
    ratelimit_storage_uri: str
    mail_from: str
    trusted_proxies: int
    request_log: bool = False

    @property
    def mail_domain(self) -> str:
        """The domain of the sender address, used in Message-ID headers."""
        return self.mail_from.rsplit("@", 1)[-1].strip(" >")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def load_settings(raw: Mapping[str, Any], instance_path: Path) -> Settings:
    """Read and check the settings; raise `ConfigError` with a clear message when one is unusable."""
    env = str(raw.get("ENV") or "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")

    secret_key = raw.get("SECRET_KEY")
    if not secret_key:
        if env == "production":
            raise ConfigError(
                "PORTAL_SECRET_KEY is not set. In production the portal refuses to start without it: "
                "set it to a long random value (for example: python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        secret_key = _instance_secret_key(instance_path)
    elif len(str(secret_key)) < 32 and env == "production":
        raise ConfigError("PORTAL_SECRET_KEY is too short: use at least 32 random characters.")

    database_url = str(raw.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}")
    base_url = str(raw.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ConfigError(
            f"PORTAL_BASE_URL must be an http(s) address such as https://portal.example.org, not {base_url!r}."
        )

    smtp_url = raw.get("SMTP_URL") or None
    if smtp_url is not None and urlsplit(str(smtp_url)).scheme not in ("smtp", "smtps"):
        raise ConfigError(f"PORTAL_SMTP_URL must start with smtp:// or smtps://, not {smtp_url!r}.")

    mail_from = str(raw.get("MAIL_FROM") or "We Are privacy portal <privacy@we-are.be>")
    if "@" not in mail_from:
        raise ConfigError(f"PORTAL_MAIL_FROM must contain an e-mail address, not {mail_from!r}.")
    if env == "production" and not smtp_url:
        raise ConfigError("PORTAL_SMTP_URL is not set. In production mail must go out over SMTP.")
    if env == "production" and database_url.startswith("sqlite") and not _flag(raw.get("ALLOW_SQLITE")):
        raise ConfigError(
            "PORTAL_DATABASE_URL points at SQLite. In production use PostgreSQL "
            "(postgresql+psycopg://user@host/db), or set PORTAL_ALLOW_SQLITE=1 for a single-process trial."
        )
    if env == "production" and base_url.startswith("http://") and not _flag(raw.get("ALLOW_HTTP")):
        raise ConfigError(
            "PORTAL_BASE_URL is http. In production the portal is served over https (its cookies require it); "
            "set PORTAL_ALLOW_HTTP=1 only behind a proxy that is itself reached over a private network."
        )
    try:
        trusted_proxies = int(raw.get("TRUSTED_PROXIES") or 0)
    except (TypeError, ValueError):
        trusted_proxies = -1
    if trusted_proxies < 0:
        raise ConfigError(
            "PORTAL_TRUSTED_PROXIES must be the number of reverse proxies in front of the portal (0 or more)."
        )

    return Settings(
        env=env,
        database_url=database_url,
        secret_key=str(secret_key),
        base_url=base_url,
        smtp_url=str(smtp_url) if smtp_url else None,
        ratelimit_storage_uri=str(raw.get("RATELIMIT_STORAGE_URI") or "memory://"),
        mail_from=mail_from,
        trusted_proxies=trusted_proxies,
        request_log=_flag(raw.get("REQUEST_LOG")) if raw.get("REQUEST_LOG") is not None else env == "production",
    )


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where one party's events go and the Standard Webhooks secret they are signed with.

    `secret` None: the events are printed on the console and count as delivered (development and test).
    """

    url: str
    secret: str | None = None


def webhook_variable(party_kind: str, party: str, setting: str) -> str:
    """The environment variable of a party's webhook setting: PORTAL_SYSTEM_CRM_SECRET, PORTAL_RECIPIENT_X_URL."""
    return f"PORTAL_{party_kind.upper()}_{party.upper()}_{setting}"


def load_webhooks(raw: Mapping[str, Any], register: Register, *, env: str) -> dict[str, WebhookEndpoint]:
    """The endpoint of every system and recipient the register has hear by webhook, keyed "system:<id>".

    Each is signed with the secret in `PORTAL_<KIND>_<ID>_SECRET` (Standard Webhooks: `whsec_` and base64
    of 24 to 64 random bytes) and posted to the register's URL, or to `PORTAL_<KIND>_<ID>_URL` (a staging
    or test setup; plain http only to a loopback address and never in production). In production every
    webhook party needs its secret; elsewhere a party without one, or every party with
    `PORTAL_WEBHOOK_DELIVERY=console`, has its events printed on the console, as mail is without SMTP.
    """
    console = str(raw.get("WEBHOOK_DELIVERY") or "").strip().lower() == "console"
    if console and env == "production":
        raise ConfigError("PORTAL_WEBHOOK_DELIVERY=console is for development: in production every webhook "
                          "is signed and posted.")
    parties = [("system", s.id, s.notice) for s in register.systems.values()]
    parties += [("recipient", r.id, r.notice) for r in register.recipients.values() if r.notice is not None]
    endpoints: dict[str, WebhookEndpoint] = {}
    for kind, party, notice in parties:
        if notice is None or notice.delivery != "webhook":
            continue
        url_variable, secret_variable = (webhook_variable(kind, party, s) for s in ("URL", "SECRET"))
        url = str(raw.get(url_variable.removeprefix("PORTAL_")) or notice.url or "")
        _check_webhook_url(url, url_variable, env=env)
        secret = raw.get(secret_variable.removeprefix("PORTAL_")) or None
        if secret is None and env == "production":
            raise ConfigError(
                f"{secret_variable} is not set. In production every event to {kind} {party!r} is signed: set it to "
                "its Standard Webhooks secret (whsec_ followed by base64 of 24 to 64 random bytes, for example: "
                "python -c 'import base64,secrets; print(\"whsec_\" + base64.b64encode(secrets.token_bytes(32))"
                ".decode())'), the same the system verifies with."
            )
        if secret is not None:
            _check_webhook_secret(str(secret), secret_variable)
        endpoints[f"{kind}:{party}"] = WebhookEndpoint(url=url, secret=None if console or secret is None
                                                       else str(secret))
    return endpoints


def _check_webhook_url(url: str, variable: str, *, env: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    loopback = parts.hostname == "localhost"
    with contextlib.suppress(ValueError):  # a name, not an address
        loopback = loopback or ipaddress.ip_address(parts.hostname or "").is_loopback
    if parts.scheme == "http" and loopback and env != "production":
        return
    raise ConfigError(f"{variable} must be an https address (plain http only to 127.0.0.1 or localhost, and not "
                      f"in production), not {url!r}.")


def _check_webhook_secret(secret: str, variable: str) -> None:
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith("whsec_") or not 24 <= len(key) <= 64:
        raise ConfigError(f"{variable} must be a Standard Webhooks secret: whsec_ followed by base64 of 24 to 64 "
                          "random bytes.")


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _instance_secret_key(instance_path: Path) -> str:
    """A key generated once and kept under instance/, so that local sessions survive a restart."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key
