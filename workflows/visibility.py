"""What operators filter workflows by in the Temporal UI/CLI, and how running workflows catch up on it.

Engagements, billing cycles and ledger syncs carry ``AgencyflowOrg``, ``AgencyflowClient`` (the client's id)
and ``AgencyflowStatus``; since issue 13 also ``AgencyflowClientKey`` (the client's external key, what people
know a client by) and, for cycles and ledger syncs, ``AgencyflowPeriod`` (``YYYY-MM``), so
``AgencyflowClientKey = 'acme' AND AgencyflowPeriod = '2026-11'`` finds a cycle.

New workflows get them when they start. A workflow that was already running when they were added gets them
the next time it does something visible (``backfill``): a cycle at its next status change, an engagement when
it starts its next cycle. That is a new command, so it is guarded by a patch for replay; and because the SDK
remembers a patch's answer for the rest of a run — and a workflow replaying its old history answers "no" the
first time it asks — each call site asks under its own id (``point``), so a point reached for the first time
answers "yes" even in a run that began before the change.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from core.search_attributes import CLIENT, CLIENT_KEY, ORG, PERIOD, STATUS

ORG_ATTR = SearchAttributeKey.for_keyword(ORG)
CLIENT_ATTR = SearchAttributeKey.for_keyword(CLIENT)
STATUS_ATTR = SearchAttributeKey.for_keyword(STATUS)
CLIENT_KEY_ATTR = SearchAttributeKey.for_keyword(CLIENT_KEY)
PERIOD_ATTR = SearchAttributeKey.for_keyword(PERIOD)

BACKFILL_PATCH = "search-attributes-client-key-period"


def search_attributes(
    org_id: str, client_id: str, status: str, *, client_key: str = "", period: str | None = None
) -> TypedSearchAttributes:
    """The attributes a workflow starts with (an empty client key, as in old inputs, is left out)."""
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(ORG_ATTR, org_id),
        SearchAttributePair(CLIENT_ATTR, client_id),
        SearchAttributePair(STATUS_ATTR, status),
    ]
    pairs += [SearchAttributePair(CLIENT_KEY_ATTR, v) for v in (client_key,) if v]
    pairs += [SearchAttributePair(PERIOD_ATTR, v) for v in (period,) if v]
    return TypedSearchAttributes(pairs)


def missing(client_key: str, period: str | None = None) -> list[SearchAttributeUpdate[str]]:
    """The new attributes this workflow does not carry yet (none for one started with them)."""
    current = workflow.info().typed_search_attributes
    wanted = [(CLIENT_KEY_ATTR, client_key), (PERIOD_ATTR, period)]
    return [key.value_set(value) for key, value in wanted if value and current.get(key) is None]


def backfill(point: str, updates: list[SearchAttributeUpdate[str]], client_key: str, period: str | None = None) -> None:
    """Upsert ``updates`` plus any new attribute the workflow lacks, as one command; a workflow replaying a
    history recorded before the change (no marker at ``point``) upserts ``updates`` alone, as it did then."""
    extra = missing(client_key, period)
    if extra and workflow.patched(f"{BACKFILL_PATCH}/{point}"):
        updates = [*updates, *extra]
    if updates:
        workflow.upsert_search_attributes(updates)
