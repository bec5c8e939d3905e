"""The collector pause around bulk row building, and the served API's heap freeze at startup."""

import gc

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from core.gc_pause import gc_paused


def test_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_on_after_an_exception() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("freeze", [False, True])
async def test_only_the_served_app_freezes_its_startup_heap(freeze: bool, app_database_url: str) -> None:
    gc.unfreeze()
    try:
        async with AsyncTestClient(app=create_app(database_url=app_database_url, freeze_heap=freeze)):
            frozen = gc.get_freeze_count()
        assert (frozen > 10_000) is freeze  # frozen: every module the app imported, not a handful
    finally:
        gc.unfreeze()
