"""The engagement starts inside the request that creates its contract, so a first cycle due at once can
gather before that transaction commits: "contract not found" is retried for a while, then given up."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.billing import CONTRACT_VISIBLE_ATTEMPTS, BillingActivities
from core.settings import load_settings
from workflows.inputs import CycleInput


@pytest.mark.parametrize(
    ("attempt", "permanent"), [(1, False), (CONTRACT_VISIBLE_ATTEMPTS - 1, False), (CONTRACT_VISIBLE_ATTEMPTS, True)]
)
async def test_a_contract_not_yet_visible_is_retried_before_it_is_given_up(
    sessionmaker, org, attempt: int, permanent: bool
) -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    activities = BillingActivities(sessionmaker, load_settings())
    missing = CycleInput(
        org_id=str(org.id), contract_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()), period="2026-11"
    )
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.gather_cycle_inputs, missing)
    assert raised.value.type == "NotFound"
    assert raised.value.non_retryable is permanent
