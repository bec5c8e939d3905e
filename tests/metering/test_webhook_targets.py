"""Webhooks go to public addresses only (server-side request forgery): private, loopback, link-local and
metadata addresses are refused when an endpoint is registered or changed, and again before each delivery
(after resolving the host), unless the deployment allows private targets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid

import httpx
import msgspec
import pytest
from temporalio.worker import Worker

from activities.metering import MeteringActivities
from cli.worker import sandbox_runner
from core.settings import load_settings
from core.webhook_targets import PinnedRequest, Vetted, pinned, url_problem, vet_delivery
from tests.metering.conftest import create_endpoint, deliveries, run_test_delivery
from workflows.metering import WebhookDeliveryWorkflow


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://[::ffff:10.1.2.3]/hook", "10.1.2.3 is a private or reserved address"),
        ("http://169.254.169.254/latest/meta-data", "link-local address (cloud metadata services live there)"),
        ("http://10.0.0.5:5432/", "10.0.0.5 is a private or reserved address"),
        ("https://192.168.1.20/hook", "192.168.1.20 is a private or reserved address"),
        ("http://100.64.0.1/", "100.64.0.1 is a private or reserved address"),
        ("http://0.0.0.0/", "0.0.0.0 is a private or reserved address"),
        ("http://224.0.0.251/", "224.0.0.251 is a multicast address"),
        ("http://localhost:9000/hook", "localhost is this machine"),
        ("http://api.LOCALHOST./hook", "api.localhost is this machine"),
        ("http://user:pw@hooks.example.com/", "credentials in the URL are not allowed"),
        ("ftp://hooks.example.com/", "the scheme must be http or https"),
        ("http://hooks.example.com:99999/", "not a valid URL"),
    ],
)
def test_internal_or_malformed_targets_are_refused_by_default(url: str, reason: str) -> None:
    problem = url_problem(url, allow_private=False)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/agencyflow", "http://8.8.8.8:8443/x", "https://[2606:4700::1111]/"]
)
def test_public_targets_are_accepted(url: str) -> None:
    assert url_problem(url, allow_private=False) is None


def test_allowing_private_targets_still_checks_the_syntax() -> None:
    assert url_problem("http://127.0.0.1:8080/hook", allow_private=True) is None
    assert url_problem("http://10.0.0.5/", allow_private=True) is None
    assert "scheme" in (url_problem("gopher://10.0.0.5/", allow_private=True) or "")


def _resolver(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A stand-in for DNS (not a component of ours): the addresses each name resolves to."""

    async def getaddrinfo(host: str, port: object, **_: object) -> list[tuple[object, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]
        ]

    return getaddrinfo


async def test_a_name_with_any_internal_answer_is_refused_at_delivery(monkeypatch) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(
        loop,
        "getaddrinfo",
        _resolver(
            {
                "rebound.example.com": ["93.184.215.14", "10.0.0.9"],
                "metadata.example.com": ["fe80::1%eth0"],
                "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            }
        ),
    )
    assert (await vet_delivery("https://rebound.example.com/x", allow_private=False)).problem == (
        "rebound.example.com resolves to 10.0.0.9, a private or reserved address; webhooks go to public addresses"
    )
    assert "link-local" in ((await vet_delivery("http://metadata.example.com/", allow_private=False)).problem or "")
    assert (await vet_delivery("https://hooks.example.com/agencyflow", allow_private=False)).problem is None
    # Unresolvable names are left to the request itself: a network error, retried like any other.
    assert (await vet_delivery("https://gone.example.com/", allow_private=False)).problem is None
    assert (await vet_delivery("https://rebound.example.com/x", allow_private=True)).problem is None


async def test_this_machines_own_name_is_refused_at_delivery() -> None:
    """The real resolver: the host name of a machine resolves to its loopback or private address."""
    name = socket.gethostname()
    answers = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    assert answers and not any(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in answers)
    problem = (await vet_delivery(f"http://{name}:8080/hook", allow_private=False)).problem
    assert problem is not None and problem.startswith(f"{name.lower()} resolves to ")


async def test_registering_or_moving_an_endpoint_to_a_private_address_answers_422(
    mclient, metered, metering_app, monkeypatch
) -> None:
    strict = msgspec.structs.replace(metering_app.state.settings, webhook_allow_private=False)
    monkeypatch.setattr(metering_app.state, "settings", strict)
    refused = await mclient.post(
        "/v1/webhooks", json={"url": "http://169.254.169.254/latest"}, headers=metered.headers()
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/url" and "link-local" in error["detail"]

    created = await create_endpoint(mclient, metered, "https://hooks.example.com/agencyflow")
    moved = await mclient.patch(
        f"/v1/webhooks/{created['id']}", json={"url": "http://10.0.0.7/hook"}, headers=metered.headers()
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["pointer"] == "/url"
    kept = await mclient.get(f"/v1/webhooks/{created['id']}", headers=metered.headers())
    assert kept.json()["url"] == "https://hooks.example.com/agencyflow"


async def test_a_delivery_to_a_private_address_is_refused_logged_and_not_retried(
    mclient,
    metered,
    sessionmaker,
    receiver,
    temporal_env,
) -> None:
    # Registered while private targets were allowed (the tests' app allows them); the worker does not.
    endpoint = await create_endpoint(mclient, metered, receiver.url)
    assert load_settings().webhook_allow_private is False
    assert await _deliver_with_strict_worker(temporal_env, sessionmaker, metered, max_attempts=5) == "failed"
    assert receiver.requests == []
    [delivery] = await deliveries(mclient, metered, endpoint["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["log"][0]["error"] == "refused: 127.0.0.1 is a loopback address; webhooks go to public addresses"


async def test_a_checked_name_is_pinned_to_its_first_address_and_an_unresolvable_one_is_not_requested(
    monkeypatch,
) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", _resolver({"hooks.example.com": ["93.184.215.14", "2606:4700::1111"]}))
    assert await vet_delivery("https://hooks.example.com/a", allow_private=False) == Vetted(address="93.184.215.14")
    gone = await vet_delivery("https://gone.example.com/a", allow_private=False)
    assert gone.problem is None and gone.address is None
    assert gone.unresolved is not None and gone.unresolved.startswith("cannot resolve gone.example.com")
    # Private targets allowed: the client connects by name, as configured.
    assert await vet_delivery("http://gone.example.com/a", allow_private=True) == Vetted()


@pytest.mark.parametrize(
    ("url", "address", "expected"),
    [
        (
            "https://hooks.example.com/agencyflow?x=1",
            "93.184.215.14",
            PinnedRequest("https://93.184.215.14/agencyflow?x=1", "hooks.example.com", "hooks.example.com"),
        ),
        (
            "http://Hooks.Example.com:8080/a/b",
            "2606:4700::1111",
            PinnedRequest("http://[2606:4700::1111]:8080/a/b", "Hooks.Example.com:8080", None),
        ),
    ],
)
def test_a_pinned_request_keeps_the_name_for_host_and_tls(url: str, address: str, expected: PinnedRequest) -> None:
    assert pinned(url, address) == expected


async def test_a_pinned_request_reaches_the_checked_address_without_a_second_lookup(receiver) -> None:
    """``.invalid`` never resolves (RFC 6761): the request only arrives if the client did not look it up."""
    port = receiver.url.split(":")[2].split("/")[0]
    target = pinned(f"http://hooks.agencyflow.invalid:{port}/hooks/agencyflow", "127.0.0.1")
    async with httpx.AsyncClient() as client:
        response = await client.post(target.url, content=b"{}", headers={"Host": target.host_header})
    assert response.status_code == 200
    [received] = receiver.requests
    assert received.headers["host"] == f"hooks.agencyflow.invalid:{port}"


async def test_a_target_that_does_not_resolve_fails_the_attempt_without_a_request_and_is_retried(
    mclient, metered, sessionmaker, receiver, temporal_env, monkeypatch
) -> None:
    endpoint = await create_endpoint(mclient, metered, "https://hooks.agencyflow.invalid/agencyflow")
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", _resolver({}))
    assert await _deliver_with_strict_worker(temporal_env, sessionmaker, metered, max_attempts=2) == "failed"
    assert receiver.requests == []
    [delivery] = await deliveries(mclient, metered, endpoint["id"])
    assert delivery["attempts"] == 2
    assert all(
        entry["error"].startswith("ConnectError: cannot resolve hooks.agencyflow.invalid") for entry in delivery["log"]
    )


async def _deliver_with_strict_worker(temporal_env, sessionmaker, metered, *, max_attempts: int) -> str:  # type: ignore[no-untyped-def]
    """Deliver one test event with a worker on the default settings (private targets not allowed)."""
    settings = load_settings()
    queue = f"strict-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[WebhookDeliveryWorkflow],
        activities=MeteringActivities(sessionmaker, settings).all(),
        workflow_runner=sandbox_runner(),
    ):
        _, result = await run_test_delivery(
            temporal_env, sessionmaker, metered.org.id, queue, max_attempts=max_attempts
        )
    return result
