"""Ledger timestamps and days, as text that sorts.

Timestamps are UTC ISO 8601 strings with microseconds and a ``Z``
(``2024-05-01T06:30:00.000000Z``); days are ISO dates (``2024-05-01``).

No torch here: operations hosts import this module.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["day_text", "parse_day", "parse_timestamp", "utc_now", "utc_timestamp"]

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> str:
    """The current time as a ledger timestamp, e.g. ``"2024-05-01T06:30:00.000000Z"``."""
    return utc_timestamp(dt.datetime.now(dt.UTC))


def utc_timestamp(moment: dt.datetime) -> str:
    """A datetime as a ledger timestamp (UTC, microseconds, ``Z``); naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime(_FORMAT)


def parse_timestamp(text: str) -> dt.datetime:
    """A ledger timestamp back to an aware UTC datetime."""
    return dt.datetime.strptime(text, _FORMAT).replace(tzinfo=dt.UTC)


def day_text(value: dt.date | str | None) -> str | None:
    """A day as the ledger stores it (``"2024-05-01"``); a datetime counts by its date.

    Parameters
    ----------
    value : datetime.date or str or None
        The day, or its ISO text (checked).

    Returns
    -------
    str or None
        The ISO date; None for None.

    Raises
    ------
    ValueError
        If a text is not an ISO date.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(
        value).isoformat()


def parse_day(text: str | None) -> dt.date | None:
    """A stored day back to a date (None for NULL or an empty text)."""
    return dt.date.fromisoformat(text) if text else None
