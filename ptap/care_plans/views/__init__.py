"""Care-plan pages: the plan in the four HAS parts, inline follow-up, versions, tasks.

One blueprint, several modules (as ptap.care_teams.views). This module also feeds every
page the user's unread notification count, shown next to "Notifications" in the header.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, has_request_context
from flask_login import current_user

from ptap.accounts.notifications import Notification
from ptap.core.web import register_nav
from ptap.extensions import db

bp = Blueprint("care_plans", __name__)

register_nav("Mes tâches", "care_plans.list_tasks", "tasks.list")


@bp.app_context_processor
def unread_notifications() -> dict[str, Any]:
    """Template context: the logged-in user's unread notification count (one COUNT query)."""
    if (
        not has_request_context()
        or not current_user.is_authenticated
        or getattr(current_user, "is_patient_side", False)  # not a users row
    ):
        return {"unread_notifications": 0}
    try:
        count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
        )
    except sa.exc.SQLAlchemyError:
        # The error pages render through here too: a broken database must not break them.
        db.session.rollback()
        count = 0
    return {"unread_notifications": count or 0}


from ptap.care_plans.views import editing, plan, tasks, versions  # noqa: E402, F401
