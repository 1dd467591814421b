"""The portal: a data-subject self-service portal for the privacy statement of We Are Technology BV."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import cli, errors, i18n, labels, operations, state
from portal.account.downloads import blueprint as downloads_blueprint
from portal.account.routes import blueprint as account_blueprint
from portal.api.events import blueprint as api_events_blueprint
from portal.api.subjects import blueprint as api_blueprint
from portal.auth import session as auth_session
from portal.auth.routes import blueprint as auth_blueprint
from portal.config import load_settings, load_webhooks
from portal.database import Database, close_request_session
from portal.extensions import csrf
from portal.notify import TemplateNotifier
from portal.policy.register import default_register
from portal.public.routes import blueprint as public_blueprint
from portal.rights.routes import blueprint as rights_blueprint
from portal.services import audit, instructions
from portal.services.limits import AbuseLimits
from portal.services.outbox import ConsoleTransport, Dispatcher, SmtpTransport, Transport, deliver_due
from portal.services.webhooks import EventReport, Webhooks
from portal.services.webhooks import deliver_due as deliver_events
from portal.staff.routes import blueprint as staff_blueprint

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = (public_blueprint, auth_blueprint, account_blueprint, rights_blueprint, downloads_blueprint,
              staff_blueprint, api_events_blueprint, api_blueprint)

# No third-party origin anywhere, no inline script or style: the pages work without JavaScript.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    "script-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Same-origin only: other sites never learn a page's address, and our own form posts carry the Referer
    # that Flask-WTF's CSRF check requires over https.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. `overrides` take the keys of the `PORTAL_*` settings without the prefix."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_prefixed_env("PORTAL")
    if overrides:
        app.config.update(overrides)
    settings = load_settings(app.config, Path(app.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # The __Host- prefix binds the cookie to this exact host and path over https.
        SESSION_COOKIE_NAME="__Host-portal" if settings.secure_cookies else "portal_session",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which has its own limits
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    database = Database(settings.database_url)
    transport: Transport = SmtpTransport(settings.smtp_url) if settings.smtp_url else ConsoleTransport()
    register = default_register()  # the register fails start-up when inconsistent
    webhooks = Webhooks(load_webhooks(app.config, register, env=settings.env))

    def deliver_events_now() -> EventReport:
        # In the app's context: a system's answer may complete a request, whose mail is rendered from templates.
        with app.app_context():
            report = deliver_events(database.sessions, webhooks, context=lambda: state.context(audit.SYSTEM))
            if report.done:
                state.mail().wake()  # a completed request tells its person
            return report

    state.install(
        app, settings=settings, register=register,
        database=database, limits=AbuseLimits(settings.ratelimit_storage_uri), transport=transport,
        mail=Dispatcher(lambda: deliver_due(database.sessions, transport, sender=settings.mail_from,
                                            secret=settings.secret_key),
                        companions=(Dispatcher(deliver_events_now, name="portal-webhooks"),)),
        notifier=TemplateNotifier(), listeners=(instructions.carry_out,), webhooks=webhooks,
    )
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )

    i18n.init_app(app)
    labels.init_app(app)
    csrf.init_app(app)
    auth_session.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    errors.init_app(app)
    operations.init_app(app, log_requests=settings.request_log, hsts=settings.secure_cookies)
    cli.init_app(app)

    @app.context_processor
    def site_context() -> dict[str, object]:
        register = state.register()
        return {"site_controller": register.controller, "site_authority": register.authority}

    @app.before_request
    def audit_origin() -> None:
        audit.origin.set(request.remote_addr)  # "from where", for every audit entry this request writes

    @app.after_request
    def security_headers(response: Response) -> Response:
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        if request.endpoint != "static":
            # Pages may show personal data: never keep them in a cache, nor in the back/forward history
            # a person returns to after signing out on a shared computer.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.teardown_appcontext(close_request_session)
    return app

