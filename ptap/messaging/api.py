"""JSON API of messaging."""

from __future__ import annotations
