"""Keep credentials out of logs, saved configs, tracking and error messages."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_URI_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^/@:\s]*)(:[^/@\s]*)?@")
SECRET_KEYS = {"password", "token", "secret", "api_key"}
# Environment variables whose values are secrets wherever they show up.
SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "PREFECT_API_KEY")
_known: set[str] = set()


def remember(value: str | None) -> None:
    """Register a secret value so scrub() masks it in any text."""
    if value and len(value) >= 4:
        _known.add(value)


def _secret_values() -> list[str]:
    values = set(_known)
    values.update(v for k in SECRET_ENV if len(v := os.environ.get(k, "")) >= 4)
    return sorted(values, key=len, reverse=True)


def redact_uri(text: str) -> str:
    """http://user:pass@host -> http://user:***@host (anywhere in a string)."""
    return _URI_CREDS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{REDACTED}@", text)


def scrub(text: str) -> str:
    """`text` with URI passwords and every known secret value masked."""
    text = redact_uri(text)
    for value in _secret_values():
        text = text.replace(value, REDACTED)
    return text


def has_credentials(uri: str) -> bool:
    """A secret in the URI's authority, any scheme: a password (`scheme://user:pass@host`), or
    for http(s) any user part (a token). A database user alone (`postgresql://u@h/db`, the
    password in ~/.pgpass) is no secret."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return False
    return parts.scheme.startswith("http") or ":" in parts.netloc.rsplit("@", 1)[0]


def split_uri_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """'http://u:p@host/x' -> ('http://host/x', 'u', 'p'); other URIs pass through."""
    parts = urlsplit(uri)
    if not parts.scheme.startswith("http") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


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
        return scrub(obj)
    return obj
