"""Workflow ids, names and activity names shared by workers, the API and tests.

Both sides import these constants, so a rename cannot leave a starter calling a name no worker hosts.
"""

from __future__ import annotations

MAINTENANCE_WORKFLOW = "Maintenance"
MAINTENANCE_WORKFLOW_ID = "agencyflow/maintenance"
PURGE_IDEMPOTENCY_KEYS = "purge_idempotency_keys"
