"""Checks of the fields a data source is created with, the media type of a version,
and the clock of AERO records."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

from service.errors import BadRequest

NAME_MAX = 256
DESCRIPTION_MAX = 10_000
URL_MAX = 2048
TAGS_MAX = 100
TAG_MAX = 128
#: The MIME type of a version whose committer names none.
DEFAULT_TYPE = "application/octet-stream"
#: A media type's `type/subtype`, each a name as RFC 6838 allows (1-127 characters).
_MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_MEDIA_NAME}/{_MEDIA_NAME}")


def now() -> datetime:
    """The server's UTC clock at the millisecond precision BSON keeps (AERO let workers'
    clocks stamp versions, which skewed every freshness check)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a `Z`, as every AERO answer writes times."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text(what: str, value: Any, limit: int, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise BadRequest(
            f"{what} must be {'a non-empty' if required else 'a'} string of at most "
            f"{limit} characters",
            {"field": what},
        )
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise BadRequest(f"{what} must not hold control characters", {"field": what})
    return value


def check_name(value: Any) -> str:
    """A data name: 1-256 characters, no control character; else 400."""
    return _text("name", value, NAME_MAX, required=True)


def check_description(value: Any) -> str:
    return _text("description", value, DESCRIPTION_MAX, required=False)


def http_url(text: str) -> SplitResult | None:
    """`text` split, if it is an absolute http(s) URL with a host (and a port, if any,
    of 0-65535); None if not, or if it cannot be split (`http://[::1`)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- reading it checks it
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def check_url(value: Any) -> str | None:
    """None, or an absolute http(s) URL (`http_url`) of at most 2048 characters; else
    400."""
    if value is None:
        return None
    text = _text("url", value, URL_MAX, required=True)
    if http_url(text) is None:
        raise BadRequest(f"url must be an absolute http(s) URL, not {text!r}", {"field": "url"})
    return text


def check_tags(value: Any) -> list[str]:
    """A list of at most 100 distinct tags of 1-128 characters (order kept); else 400."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > TAGS_MAX:
        raise BadRequest(f"tags must be a list of at most {TAGS_MAX} strings", {"field": "tags"})
    return list(dict.fromkeys(_text("tags", tag, TAG_MAX, required=True) for tag in value))


def media_type(value: str | None) -> str | None:
    """The `type/subtype` of media type `value`, its parameters dropped (`text/csv;
    charset=utf-8` is `text/csv`); DEFAULT_TYPE for none or a blank; None when `value`
    is not a media type."""
    essence = (value or "").split(";", 1)[0].strip()
    if not essence:
        return DEFAULT_TYPE
    return essence if _MEDIA_TYPE.fullmatch(essence) else None


def check_media_type(value: Any, field: str) -> str:
    """`media_type` of `value`, or 400 naming `field` when it is not one: it becomes the
    Content-Type of the version's download, where anything else (a line break, say)
    would break the answer."""
    found = media_type(value) if value is None or isinstance(value, str) else None
    if found is None:
        shown = value[:80] if isinstance(value, str) else type(value).__name__
        raise BadRequest(
            f"{field} must be a MIME type (type/subtype), not {shown!r}", {"field": field}
        )
    return found
