"""ETag / If-Match on versioned rows: the row's ``version`` is the validator, so no body hashing."""

from __future__ import annotations

from litestar import Request

from api.problems import PreconditionFailed


def etag_for(version: int) -> str:
    return f'"{version}"'


def check_if_match(request: Request, current_version: int) -> None:
    """412 when the client's copy is stale; a missing If-Match means "last writer wins" by choice."""
    header = request.headers.get("if-match")
    if header is None:
        return
    candidates = {tag.strip() for tag in header.split(",")}
    if "*" in candidates:
        return
    # RFC 9110 §13.1.1: If-Match uses the strong comparison, so a weak tag (W/"3") never matches.
    if etag_for(current_version) not in candidates:
        raise PreconditionFailed(
            f"resource is at version {current_version}; your If-Match {header} is stale",
            extra={"current_etag": etag_for(current_version)},
        )


def not_modified(request: Request, version: int) -> bool:
    """RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/"3" matches our "3"."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag_for(version) in tags
