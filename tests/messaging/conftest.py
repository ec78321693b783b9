"""Messaging fixtures: a care team around a patient, an outsider, tokens and /messaging sockets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from ptap.accounts import services as account_services
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.audit.services import AuditContext
from ptap.care_teams.models import CareTeam, Patient
from ptap.extensions import socketio
from ptap.messaging import services
from ptap.messaging.models import Conversation
from tests.factories import add_member, make_patient, make_team, make_user

NS = "/messaging"


@dataclass
class World:
    team: CareTeam
    coord: User
    member: User
    outsider: User
    patient: Patient

    def ctx(self, user: User) -> AuditContext:
        return AuditContext(actor_id=user.id, actor_label=user.email)


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["MESSAGING_ATTACHMENT_KEY_FILE"] = str(tmp_path / "keys" / "attachments.key")


@pytest.fixture
def world(db) -> World:
    """A team (coordinator + member) following a consented patient; an outsider elsewhere."""
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="physiotherapist")
    add_member(team, coord, "coordinator")
    add_member(team, member)
    other = make_team("Équipe Vaise")
    outsider = make_user()
    add_member(other, outsider)
    patient = make_patient(team, coord)
    db.session.commit()
    return World(team, coord, member, outsider, patient)


@pytest.fixture
def patient_conversation(world, db) -> Conversation:
    conversation = services.get_or_create_patient_conversation(world.coord, world.patient)
    db.session.commit()
    return conversation


@pytest.fixture
def team_conversation(world, db) -> Conversation:
    conversation = services.get_or_create_team_conversation(world.coord, world.team)
    db.session.commit()
    return conversation


def token_for(user: User, scopes=("api:read", "api:write", "socket")) -> str:
    return account_services.create_api_token(user, "t", list(scopes), 30, request_context(user))[1]


def headers(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user, ('api:read', 'api:write'))}"}


@pytest.fixture
def messaging_socket(app, client, db):
    """Connect a /messaging test socket as `user` (bearer token in the auth payload)."""
    opened = []

    def connect(user: User):
        token = token_for(user, ("socket",))
        db.session.commit()
        sock = socketio.test_client(
            app, namespace=NS, flask_test_client=client, auth={"token": token}
        )
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected(NS):
            sock.disconnect(NS)


def new_client_id() -> str:
    return uuid.uuid4().hex


def send(world_user: User, conversation: Conversation, body: str = "Bonjour", **over):
    draft = services.MessageDraft(over.pop("client_id", new_client_id()), body, **over)
    ctx = AuditContext(actor_id=world_user.id, actor_label=world_user.email)
    return services.send_message(world_user, conversation, draft, ctx)


def received(sock, name: str | None = None) -> list[dict]:
    events = sock.get_received(NS)
    return [e for e in events if name is None or e["name"] == name]
