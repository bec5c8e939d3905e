"""Headers every response carries, added where every response passes (``api.middleware``).

* ``X-Content-Type-Options: nosniff`` on everything: a browser must never render a JSON body (which
  echoes client-supplied text) as HTML or script.
* ``Cache-Control: no-store`` on every API response that does not set its own: responses are
  per-organisation and some carry a secret shown once (a new API key, a webhook signing secret), so no
  browser, proxy or CDN may keep a copy. Entity tags still work: a client keeps its own copy and sends
  ``If-None-Match``. Only the public API documentation (``/schema``) may be cached.
"""

from __future__ import annotations

from typing import Final

NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
NO_STORE: Final = (b"cache-control", b"no-store")
_CACHEABLE_PREFIXES: Final = ("/schema",)


def with_security_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the ones above (never a second ``Cache-Control`` if the handler chose one)."""
    names = {name.lower() for name, _ in headers}
    if b"x-content-type-options" not in names:
        headers.append(NOSNIFF)
    if b"cache-control" not in names and not path.startswith(_CACHEABLE_PREFIXES):
        headers.append(NO_STORE)
    return headers
