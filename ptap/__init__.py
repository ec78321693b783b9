"""PTAP: plateforme territoriale d'appui for coordinated care teams."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from ptap.resources import instance_path, resource_dir


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application in small named steps; it never touches the database here."""
    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder="static",
        instance_path=str(instance_path()),
    )
    from ptap.core.logs import configure_logging
    from ptap.settings import load_settings

    load_settings(app, overrides)
    configure_logging(app)
    hops = int(app.config["PROXY_FIX_HOPS"])
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Socket handlers are imported before socketio.init_app: Flask-SocketIO keeps handlers
    # declared while it has no server and binds them to every app it is initialised with.
    register_socket_handlers(app)
    init_extensions(app)
    register_blueprints(app)
    connect_dmp_bridge()
    return app


def init_extensions(app: Flask) -> None:
    """Bind the extension singletons; the session checks run before the access guard."""
    from ptap.accounts.sessions import init_sessions
    from ptap.audit.context import init_patient_audit
    from ptap.core.aftercommit import install_after_commit_hooks
    from ptap.core.web import init_web
    from ptap.db import install_engine_hooks
    from ptap.extensions import csrf, db, limiter, migrate, socketio

    db.init_app(app)
    install_engine_hooks(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    init_sessions(app)
    init_patient_audit(app)
    init_web(app)
    install_after_commit_hooks()
    # Flask-SocketIO keeps server options between init_app calls: an app created earlier in the
    # same process with a message queue would leave its Redis manager to the next one.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"] or None,
        channel=app.config["SOCKETIO_CHANNEL"],
        cors_allowed_origins=app.config["SOCKETIO_CORS_ALLOWED_ORIGINS"] or None,
        manage_session=False,
    )
    from ptap.core.socket_delivery import install_delivery_filter

    # Each process leaves out of its deliveries the sockets whose credential or access ended.
    install_delivery_filter(socketio.server)


def register_blueprints(app: Flask) -> None:
    """Register every domain's blueprint and the JSON API."""
    import ptap.accounts.api  # noqa: F401 - registers the accounts endpoints on api_bp
    import ptap.accounts.notifications  # noqa: F401 - model
    import ptap.accounts.session_views  # noqa: F401 - adds "Mes sessions" to accounts.bp
    import ptap.care_events.api  # noqa: F401 - registers the care-events endpoints
    import ptap.care_events.models  # noqa: F401 - models
    import ptap.care_events.permissions  # noqa: F401 - registers the care-events policy rules
    import ptap.care_events.timeline  # noqa: F401 - adds pathway events to the patient timeline
    import ptap.care_plans.api  # noqa: F401 - registers the care-plans endpoints
    import ptap.care_plans.exports  # noqa: F401
    import ptap.care_plans.models  # noqa: F401 - models
    import ptap.care_plans.permissions  # noqa: F401 - registers the care-plans policy rules
    import ptap.care_plans.search  # noqa: F401 - plan columns and filters of the patient list
    import ptap.care_plans.timeline  # noqa: F401 - adds publications to the patient timeline
    import ptap.care_teams.api  # noqa: F401 - registers the care-teams endpoints
    import ptap.care_teams.permissions  # noqa: F401 - registers the care-teams policy rules
    import ptap.core.blobs  # noqa: F401 - models (blobs, blob_chunks)
    import ptap.dashboards.api  # noqa: F401 - registers the dashboard endpoint
    import ptap.dashboards.permissions  # noqa: F401 - registers the dashboard policy rules
    import ptap.filings.api  # noqa: F401 - registers the DMP filings endpoints
    import ptap.filings.permissions  # noqa: F401 - registers the DMP filings policy rules
    import ptap.filings.timeline  # noqa: F401 - adds DMP filings to the patient timeline
    import ptap.grids.api  # noqa: F401 - registers the assessment-grid endpoints
    import ptap.grids.models  # noqa: F401 - models
    import ptap.grids.permissions  # noqa: F401 - registers the assessment-grid policy rules
    import ptap.intake.api  # noqa: F401 - registers the request-intake endpoints
    import ptap.intake.models  # noqa: F401 - models
    import ptap.intake.permissions  # noqa: F401 - registers the request-intake policy rules
    import ptap.letters.api  # noqa: F401 - registers the letters endpoints
    import ptap.letters.models  # noqa: F401 - models
    import ptap.letters.permissions  # noqa: F401 - registers the letters policy rules
    import ptap.meetings.api  # noqa: F401 - registers the meetings endpoints
    import ptap.meetings.live_views  # noqa: F401 - the live screen's routes on meetings.bp
    import ptap.meetings.models  # noqa: F401 - models
    import ptap.meetings.permissions  # noqa: F401 - registers the meetings policy rules
    import ptap.meetings.report_api  # noqa: F401 - registers the reports/minutes/.ics endpoints
    import ptap.meetings.report_models  # noqa: F401 - reports, minutes, feeds, notices
    import ptap.meetings.report_permissions  # noqa: F401 - reports, minutes, calendar feed rules
    import ptap.messaging.api  # noqa: F401 - registers the messaging endpoints
    import ptap.messaging.flags  # noqa: F401 - tells meetings which patients have urgent messages
    import ptap.messaging.timeline  # noqa: F401 - adds message counts to the patient timeline
    import ptap.monitoring.api  # noqa: F401 - registers the monitoring endpoint
    import ptap.monitoring.models  # noqa: F401 - models
    import ptap.monitoring.permissions  # noqa: F401 - registers the monitoring policy rules
    import ptap.pathways.api  # noqa: F401 - registers the pathway endpoints
    import ptap.pathways.models  # noqa: F401 - models
    import ptap.pathways.permissions  # noqa: F401 - registers the pathway policy rules
    import ptap.search.api  # noqa: F401 - registers the patient search endpoint
    import ptap.search.permissions  # noqa: F401 - registers the search policy rule
    import ptap.search.sources  # noqa: F401 - registers the search sources of every domain
    from ptap.accounts import admin_views
    from ptap.accounts import views as accounts_views
    from ptap.accounts.psc import init_psc
    from ptap.care_events import views as care_events_views
    from ptap.care_plans import views as care_plans_views
    from ptap.care_teams import views as care_teams_views
    from ptap.core import views as core_views
    from ptap.core.api import api_bp
    from ptap.core.web import register_nav
    from ptap.dashboards import views as dashboards_views
    from ptap.extensions import csrf
    from ptap.filings import views as filings_views
    from ptap.grids import views as grids_views
    from ptap.intake import views as intake_views
    from ptap.letters import views as letters_views
    from ptap.meetings import calendar_views, report_views
    from ptap.meetings import views as meetings_views
    from ptap.messaging import views as messaging_views
    from ptap.monitoring import views as monitoring_views
    from ptap.pathways import views as pathways_views
    from ptap.search import views as search_views

    register_nav("Comptes", "admin.list_users", "accounts.manage", "administration")
    register_nav(
        "Journal de sécurité", "admin.security_log", "audit.view_security", "administration"
    )
    app.register_blueprint(core_views.bp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(care_teams_views.bp)
    app.register_blueprint(care_plans_views.bp)
    app.register_blueprint(messaging_views.bp)
    app.register_blueprint(filings_views.bp)
    app.register_blueprint(dashboards_views.bp)
    app.register_blueprint(intake_views.bp)
    app.register_blueprint(meetings_views.bp)
    app.register_blueprint(care_events_views.bp)
    app.register_blueprint(letters_views.bp)
    app.register_blueprint(grids_views.bp)
    app.register_blueprint(monitoring_views.bp)
    app.register_blueprint(pathways_views.bp)
    app.register_blueprint(report_views.bp)
    app.register_blueprint(calendar_views.bp)
    app.register_blueprint(search_views.bp)
    init_psc(app)
    csrf.exempt(api_bp)  # the API guard checks CSRF itself for session-authenticated writes
    app.register_blueprint(api_bp)


def connect_dmp_bridge() -> None:
    """Tell the DMP bridge how to describe patients and render documents (it imports no domain)."""
    import ptap.dmp_bridge  # noqa: F401 - its outbox models
    from ptap.care_plans import dmp as care_plans_dmp
    from ptap.care_teams import dmp as care_teams_dmp
    from ptap.letters import documents as letters_dmp
    from ptap.meetings import report_dmp

    care_teams_dmp.register()
    care_plans_dmp.register()
    report_dmp.register()
    letters_dmp.register()


def register_socket_handlers(app: Flask) -> None:
    """Import the modules whose Socket.IO handlers register on import."""
    import ptap.accounts.events  # noqa: F401
    import ptap.dashboards.events  # noqa: F401
    import ptap.meetings.events  # noqa: F401
    import ptap.messaging.events  # noqa: F401
    from ptap.dashboards.live import install_listeners

    install_listeners()  # live dashboards: which patients a commit changed
