"""Every workflow class the worker hosts; names are constants in ``workflows.names``."""

from __future__ import annotations

from typing import Any

from workflows.maintenance import MaintenanceWorkflow

WORKFLOWS: list[Any] = [MaintenanceWorkflow]
