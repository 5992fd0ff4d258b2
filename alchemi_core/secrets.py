"""Keep credentials out of logs, saved configs and tracking."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
_URI_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^/@:\s]*)(:[^/@\s]*)?@")
SECRET_KEYS = {"password", "token", "secret", "api_key"}


def redact_uri(text: str) -> str:
    """http://user:pass@host -> http://user:***@host (anywhere in a string)."""
    return _URI_CREDS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{REDACTED}@", text)


def redact(obj: Any) -> Any:
    """A deep copy of a plain config dict with secret values and URI passwords masked."""
    if isinstance(obj, dict):
        return {
            k: (REDACTED if k in SECRET_KEYS and v is not None else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_uri(obj)
    return obj
