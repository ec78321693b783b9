"""When each API token was last used: recorded in memory, written in batches.

Authenticating a request or a socket with a token writes nothing: the time is noted here and
`ptap.core.write_behind` writes the batch (one UPDATE statement for all the tokens noted, one
commit) within WRITE_BEHIND_SECONDS. A crash loses at most the last second's times of use (an
informative column: shown to the token's owner, never used for access decisions). A time is
written at most once a minute per token, and never moves back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from flask import Flask

from ptap.accounts.models import ApiToken
from ptap.core.write_behind import WriteBehind, window_seconds
from ptap.extensions import db

#: A token's last use is written at most this often.
RESOLUTION = timedelta(minutes=1)

_TABLE = cast(sa.Table, ApiToken.__table__)
_UPDATE = (
    sa.update(_TABLE)
    .where(
        _TABLE.c.id == sa.bindparam("token_id"),
        sa.or_(_TABLE.c.last_used_at.is_(None), _TABLE.c.last_used_at < sa.bindparam("used_at")),
    )
    .values(last_used_at=sa.bindparam("used_at"))
)


def _write(app: Flask, uses: list[tuple[int, datetime]]) -> None:
    latest: dict[int, datetime] = {}
    for token_id, used_at in uses:
        if token_id not in latest or latest[token_id] < used_at:
            latest[token_id] = used_at
    with app.app_context():
        db.session.execute(
            _UPDATE, [{"token_id": tid, "used_at": at} for tid, at in latest.items()]
        )
        db.session.commit()


USES = WriteBehind("token-last-use", _write, max_rows=1000)

#: Per process: the last time noted for each token, so a token used again within the
#: minute costs no entry in the buffer (a dict lookup per authentication).
_noted: dict[int, datetime] = {}


def note_token_use(token: ApiToken, now: datetime) -> None:
    """Record that `token` was used at `now` (written later; with buffering off, at once)."""
    if token.last_used_at is not None and now - token.last_used_at <= RESOLUTION:
        return
    if window_seconds() <= 0:
        token.last_used_at = now
        return
    noted = _noted.get(token.id)
    if noted is not None and now - noted <= RESOLUTION:
        return
    _noted[token.id] = now
    USES.add((token.id, now))
