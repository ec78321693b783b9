"""JSON API of care plans."""

from __future__ import annotations
