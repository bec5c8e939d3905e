"""Custom Temporal search attributes, one definition shared by the server launcher and the workflows.

The Temporal UI filters engagements and billing cycles by these; the dev server registers them at start
and the worker registers them on an external cluster.
"""

from __future__ import annotations

ORG = "AgencyflowOrg"
CLIENT = "AgencyflowClient"
STATUS = "AgencyflowStatus"

SEARCH_ATTRIBUTES: dict[str, str] = {ORG: "Keyword", CLIENT: "Keyword", STATUS: "Keyword"}
