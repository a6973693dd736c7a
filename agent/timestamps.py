"""The one timestamp format of reports and journals: RFC 3339, UTC, whole seconds."""

from __future__ import annotations

import datetime as dt


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
