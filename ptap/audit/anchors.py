"""The chain key and the anchor file: audit material kept outside the database."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from flask import current_app

from ptap.audit.keys import DEFAULT_KEY_ID, KeyRing, parse_keyring
from ptap.audit.services import Anchor

log = logging.getLogger(__name__)


def chain_key() -> KeyRing:
    """Return the audit chain's key ring: AUDIT_CHAIN_KEYS (retired keys, by id), the
    current key AUDIT_CHAIN_KEY and its id AUDIT_CHAIN_KEY_ID (checked by settings)."""
    cfg = current_app.config
    return parse_keyring(
        str(cfg.get("AUDIT_CHAIN_KEYS") or ""),
        str(cfg.get("AUDIT_CHAIN_KEY") or ""),
        str(cfg.get("AUDIT_CHAIN_KEY_ID") or DEFAULT_KEY_ID),
    )


def anchor_path() -> Path:
    """Return the append-only anchor file (AUDIT_ANCHOR_FILE, in the instance folder)."""
    return Path(current_app.config["AUDIT_ANCHOR_FILE"])


def append_anchor(anchor: Anchor, path: Path) -> None:
    """Append one JSON line to the anchor file (created 0600), flushed to disk; log it too."""
    line = json.dumps(asdict(anchor), sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit anchor %s", line)


def read_anchors(path: Path) -> list[Anchor]:
    """Return every anchor of the file (none if it does not exist); a bad line raises."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            anchors.append(
                Anchor(
                    at=str(data["at"]),
                    last_seq=int(data["last_seq"]),
                    last_event_id=data.get("last_event_id"),
                    head_hash=str(data["head_hash"]),
                    key_id=str(data.get("key_id") or ""),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: line {number} is not a valid anchor") from exc
    return anchors
