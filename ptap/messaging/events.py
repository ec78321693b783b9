"""Socket.IO handlers of the /messaging namespace."""

from __future__ import annotations
