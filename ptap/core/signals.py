"""Documented signals for fan-out where the producer must not know its consumers.

Signals that announce a committed fact are queued with `send_after_commit` and sent from the
session's after_commit hook, so a consumer never sees a rolled-back fact.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal

from ptap.core.aftercommit import on_commit

_signals = Namespace()

#: Sent after a care-plan version is published and committed.
#: sender: "care_plans"; kwargs: version_id (int), plan_id (int), patient_id (int).
#: The DMP bridge subscribes to file the version; the timeline reads versions directly.
care_plan_version_published: Signal = _signals.signal("care-plan-version-published")

#: Sent after a commit that may have removed someone from a patient's circle (enrolment ended,
#: sharing consent withdrawn, invitation revoked). sender: "care_teams"; kwargs: patient_id (int).
#: Messaging subscribes to cut the live sockets of whoever lost access off the patient's thread.
circle_changed: Signal = _signals.signal("circle-changed")

#: Sent after a commit that ended (or shortened) a team membership.
#: sender: "care_teams"; kwargs: team_id (int), user_id (int). Messaging subscribes, as above,
#: for the team's conversation and the conversations of the patients the team follows.
team_membership_changed: Signal = _signals.signal("team-membership-changed")

#: Sent after a commit that registered or changed a support request (triage, answer,
#: evaluation, closure, conversion, edit). sender: "intake"; kwargs: request_id (int),
#: team_id (int), action (str: "register", "update", "triage", "answer", "evaluate", "close",
#: "convert"). The dashboard subscribes to refresh the team's request alerts live; monitoring
#: may use it to mark its aggregates stale.
support_request_changed: Signal = _signals.signal("support-request-changed")

#: Sent after a commit that recorded or withdrew a care-pathway event. sender: "care_events";
#: kwargs: event_id (int), patient_id (int), team_id (int), kind (str), is_break (bool),
#: withdrawn (bool).
care_event_changed: Signal = _signals.signal("care-event-changed")


def send_after_commit(signal: Signal, sender: str, **kwargs: Any) -> None:
    """Queue a signal on the current session; it is sent only if the transaction commits."""

    def send() -> None:
        signal.send(sender, **kwargs)

    on_commit(send)


#: Sent after a commit that changed a multidisciplinary meeting (scheduled, edited, agenda,
#: participants, attendance, started, current patient, closed, cancelled). sender: "meetings";
#: kwargs: meeting_id (int), what (str: "schedule", "update", "cancel", "agenda", "participants",
#: "attendance", "start", "current_item", "close", "decisions"). The live meeting room and the
#: calendars subscribe.
meeting_changed: Signal = _signals.signal("meeting-changed")

#: Sent after a commit that recorded a meeting's decisions about one agenda patient.
#: sender: "meetings"; kwargs: meeting_id (int), item_id (int), patient_id (int),
#: plan_version_id (int | None: None when the decisions changed nothing in the plan).
decisions_recorded: Signal = _signals.signal("decisions-recorded")
