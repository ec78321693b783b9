"""Failed bearer-token authentications: a per-address limit and aggregated audit rows.

Counts live in the rate limiter's storage (memory, or Redis shared by every process), in a
one-minute moving window per client address. An address's failures write at most two audit
rows per window: its first failure, and the one that reaches the limit (with the count);
beyond the limit requests are refused with 429 before any token lookup or audit write.
"""

from __future__ import annotations

import logging

from flask import current_app
from limits import RateLimitItemPerMinute

from ptap.extensions import limiter

log = logging.getLogger(__name__)
NAMESPACE = "bearer-failures"


def _item() -> RateLimitItemPerMinute:
    return RateLimitItemPerMinute(int(current_app.config["API_TOKEN_FAILURE_LIMIT"]))


def is_flooding(address: str) -> bool:
    """Tell whether `address` already reached its failure limit in the current window."""
    if not limiter.enabled:
        return False
    try:
        return not limiter.limiter.test(_item(), NAMESPACE, address)
    except Exception:  # storage down: do not refuse, every failure is then audited
        log.exception("token failure counter unavailable")
        return False


def note_failure(address: str) -> int:
    """Count one failure for `address`; return the failures in the current window.

    Without a working counter every failure counts as the first (and is audited).
    """
    if not limiter.enabled:
        return 1
    item = _item()
    try:
        limiter.limiter.hit(item, NAMESPACE, address)
        stats = limiter.limiter.get_window_stats(item, NAMESPACE, address)
    except Exception:
        log.exception("token failure counter unavailable")
        return 1
    return item.amount - stats.remaining


def failure_limit() -> int:
    """Return the number of failures allowed per address and minute."""
    return int(current_app.config["API_TOKEN_FAILURE_LIMIT"])
