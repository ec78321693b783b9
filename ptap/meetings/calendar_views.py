"""Calendar files: one meeting's .ics, the "Mon agenda" page, and the private feed URL.

The feed is the one public endpoint: calendar clients cannot log in, so the URL's random
token is the credential (only its hash is stored; unknown or revoked: 404, nothing said).
Nothing in these files names a patient (ptap.meetings.calendar).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import request_context
from ptap.core.actions import run_action
from ptap.core.policy import public, requires
from ptap.extensions import db
from ptap.meetings import calendar, queries
from ptap.meetings.downloads import ics_response

bp = Blueprint("calendars", __name__)


@bp.get("/meetings/<int:meeting_id>.ics")
@requires("meetings.list")
def meeting_ics(meeting_id: int):
    meeting = queries.get_meeting_for(current_user, meeting_id)
    return ics_response(calendar.meeting_ics(meeting), f"reunion-{meeting.id}.ics")


def _feed_page(token: str | None = None):
    feed = calendar.find_feed(current_user.id)
    url = url_for("calendars.feed", token=token, _external=True) if token else ""
    return render_template("meetings/calendar_feed.html", feed=feed, feed_url=url, form=EmptyForm())


@bp.get("/account/calendar")
@requires("calendar_feed.manage")
def my_calendar():
    return _feed_page()


@bp.post("/account/calendar")
@requires("calendar_feed.manage")
def create_feed():
    if not EmptyForm().validate_on_submit():
        flash("Le formulaire a expiré : réessayez.", "error")
        return redirect(url_for(".my_calendar"))
    outcome = run_action(lambda: calendar.create_calendar_feed(current_user, request_context()))
    # Shown once, on this page only: neither stored nor put in a flash message (the cookie).
    return _feed_page(outcome.value)


@bp.post("/account/calendar/revoke")
@requires("calendar_feed.manage")
def revoke_feed():
    if EmptyForm().validate_on_submit():
        run_action(
            lambda: calendar.revoke_calendar_feed(current_user, request_context()),
            success="Le lien de votre agenda est révoqué : il ne donne plus rien.",
        )
    return redirect(url_for(".my_calendar"))


@bp.get("/calendar/<token>.ics")
@public
def feed(token: str):
    owner = calendar.feed_owner(token)
    if owner is None:
        abort(404)
    content = calendar.feed_ics(owner)
    db.session.rollback()  # a read: nothing to keep
    return ics_response(content, "ptap-agenda.ics")
