"""Custom Temporal search attributes, one definition shared by the server launcher and the workflows.

The Temporal UI filters engagements and billing cycles by these; the dev server registers them at start
and the worker registers them on an external cluster (``cli.worker.ensure_search_attributes``, which adds
the ones a namespace lacks, so a cluster set up before one was added gets it at the next worker start).
``AgencyflowClient`` is the client's id; ``AgencyflowClientKey`` its external key (what people call it) and
``AgencyflowPeriod`` a cycle's billing period, ``YYYY-MM`` (``workflows.visibility``).
"""

from __future__ import annotations

ORG = "AgencyflowOrg"
CLIENT = "AgencyflowClient"
STATUS = "AgencyflowStatus"
CLIENT_KEY = "AgencyflowClientKey"
PERIOD = "AgencyflowPeriod"

SEARCH_ATTRIBUTES: dict[str, str] = {
    ORG: "Keyword",
    CLIENT: "Keyword",
    STATUS: "Keyword",
    CLIENT_KEY: "Keyword",
    PERIOD: "Keyword",
}
