"""``heartbeating`` beats while an activity runs and only then, so a crashed worker is noticed within the timeout."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities.liveness import heartbeating


class Writer:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @activity.defn(name="liveness_probe")
    @heartbeating
    async def write(self, label: str) -> str:
        await asyncio.sleep(self.seconds)
        return f"wrote {label}"


def environment(heartbeat_timeout: timedelta | None) -> tuple[ActivityEnvironment, list[float]]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=heartbeat_timeout)
    beats: list[float] = []
    env.on_heartbeat = lambda *_: beats.append(asyncio.get_running_loop().time())
    return env, beats


async def test_a_long_activity_beats_three_times_per_timeout_and_stops_when_it_returns() -> None:
    env, beats = environment(timedelta(milliseconds=600))
    started = asyncio.get_running_loop().time()
    assert await env.run(Writer(1.1).write, "invoice") == "wrote invoice"
    assert len(beats) == 5  # at 0.2, 0.4, 0.6, 0.8 and 1.0 s
    assert all(later - earlier < 0.3 for earlier, later in zip([started, *beats], beats, strict=False))
    await asyncio.sleep(0.5)
    assert len(beats) == 5, "the side task must end with the activity"


async def test_a_write_shorter_than_a_third_of_the_timeout_sends_no_heartbeat() -> None:
    env, beats = environment(timedelta(seconds=10))
    assert await env.run(Writer(0.05).write, "posting") == "wrote posting"
    assert beats == []


async def test_without_a_heartbeat_timeout_the_activity_runs_unwrapped() -> None:
    env, beats = environment(None)
    assert await env.run(Writer(0.2).write, "draft") == "wrote draft"
    assert beats == []


async def test_a_failing_activity_stops_beating_too() -> None:
    class Broken(Exception):
        pass

    @heartbeating
    async def fail() -> None:
        await asyncio.sleep(0.5)
        raise Broken

    env, beats = environment(timedelta(milliseconds=600))
    try:
        await env.run(fail)
    except Broken:
        pass
    else:
        raise AssertionError("the activity's own error must come through")
    count = len(beats)
    assert count == 2  # at 0.2 and 0.4 s
    await asyncio.sleep(0.5)
    assert len(beats) == count


def test_the_decorated_method_keeps_its_signature_for_temporal() -> None:
    definition = activity._Definition.must_from_callable(Writer(0).write)
    assert definition.name == "liveness_probe"
    assert definition.arg_types == [str]
    assert definition.ret_type is str


async def test_called_outside_temporal_the_method_is_an_ordinary_coroutine() -> None:
    assert await Writer(0.01).write("direct") == "wrote direct"
