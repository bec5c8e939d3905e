"""Property-based fuzzing of the whole API against the real app, database and Temporal (schemathesis).

Every operation of the published OpenAPI document is driven with schema-valid and schema-invalid requests
(examples, coverage, fuzzing and stateful phases, following the document's links from each create to the
created resource) and every response is checked: no 5xx, status codes, content types, headers and bodies
as documented, invalid input rejected, valid input accepted, authentication never ignored.

``make test`` runs a short pass (``AGENCYFLOW_FUZZ_EXAMPLES``, default 6 cases per operation and mode: some
8,000 requests in about a minute); ``make fuzz`` runs the long one (at least ``AGENCYFLOW_FUZZ_MIN_CASES``).
Valid input refused by a rule no request schema can state (a currency code outside ISO 4217, a stale
If-Match, an end before its start) is not a failure: see ``fuzz_hooks.is_business_rule``, which keeps every
refusal that only a schema mismatch explains. The fuzzer's own API key is never revoked by the run: a hook keeps its id
out of ``DELETE /v1/api-keys/{key_id}`` (every other id is still fuzzed there).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from core.permissions import Role
from tests.api.conftest import LiveApi

HOOKS = Path(__file__).with_name("fuzz_hooks.py")


# 413 is how the server refuses a body over a documented size (e.g. a batch over maxItems): a rejection.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""


def _examples() -> int:
    return int(os.environ.get("AGENCYFLOW_FUZZ_EXAMPLES", "6"))


async def own_key_id(live_api: LiveApi, token: str) -> str:
    """The id of the key behind ``token`` (``afk_<org>_<prefix>_<secret>``), found by its prefix."""
    prefix = token.split("_")[2]
    async with httpx.AsyncClient(base_url=live_api.base_url) as http:
        page = (await http.get("/v1/api-keys?limit=200", headers={"Authorization": f"Bearer {token}"})).json()
    return next(str(key["id"]) for key in page["items"] if key["prefix"] == prefix)


async def run_fuzzer(live_api: LiveApi, report_dir: Path, *, examples: int, seed: int) -> tuple[int, str, dict]:
    token = live_api.token(Role.OWNER)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks",
        "AGENCYFLOW_FUZZ_OWN_KEY_ID": await own_key_id(live_api, token),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    report = report_dir / "report.json"
    config = report_dir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{live_api.base_url}/schema/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        # One worker: hypothesis describes strategies with ast.parse, which is not thread-safe on CPython
        # 3.11 ("AST constructor recursion depth mismatch" in the fuzzer itself with two).
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "false",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    summary = json.loads(report.read_text()) if report.exists() else {}
    return process.returncode or 0, output.decode(errors="replace"), summary


@pytest.mark.slow
async def test_fuzzing_every_operation_finds_no_server_error_or_schema_violation(live_api, tmp_path) -> None:
    seed = int(os.environ.get("AGENCYFLOW_FUZZ_SEED", "1313"))
    code, output, summary = await run_fuzzer(live_api, tmp_path, examples=_examples(), seed=seed)
    print(output)
    cases = summary.get("test_cases", {})
    print(
        f"fuzz figures: {cases.get('generated')} cases over {summary.get('operations', {}).get('tested')} operations "
        f"in {summary.get('running_time', 0):.0f} s, {len(summary.get('failures', []))} failure kinds, "
        f"{len(summary.get('errors', []))} errors, {summary.get('filtered')} business-rule refusals of valid input"
    )
    assert code == 0, output[-20000:]
    assert summary["complete"] is True
    assert summary["failures"] == [] and summary["errors"] == []
    assert cases["generated"] >= int(os.environ.get("AGENCYFLOW_FUZZ_MIN_CASES", "1000"))
