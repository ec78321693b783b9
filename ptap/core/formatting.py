"""French presentation of stored values, shared by pages, PDFs and exports of every domain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ptap.core import clock

#: Users are in metropolitan France: times are stored in UTC and shown in Paris time.
PARIS = clock.PARIS


def label(labels: Mapping[Any, str], value: str) -> str:
    """Return the French label of a stored value (the value itself if unknown)."""
    return labels.get(value, value)


def ins_format(value: str | None) -> str:
    """Group an INS matricule as printed on the carte Vitale: 2 40 05 69 381 001 | 42."""
    if not value or len(value) != 15:
        return value or ""
    parts = (value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:])
    return " ".join(parts)


def fr_date(value: date | None) -> str:
    """Format a calendar day the French way: 05/03/2026."""
    return value.strftime("%d/%m/%Y") if value else ""


def local_datetime(value: datetime | None) -> str:
    """Format a UTC datetime as French local time: 05/03/2026 à 14:07."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if value else ""


def day_month_time(value: datetime | None) -> str:
    """Format a UTC datetime as a short French local moment: 07/12 à 10:32."""
    return value.astimezone(PARIS).strftime("%d/%m à %H:%M") if value else ""


def local_date(value: datetime | None) -> str:
    """Format a UTC datetime as a French local date: 05/03/2026."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y") if value else ""
