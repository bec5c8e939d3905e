"""Pause the cyclic garbage collector around a synchronous loop that builds many acyclic objects.

A month of usage is some 60,000 rows turned into structs, dicts and tuples in one go: every few hundred new
containers the collector runs, and its older generations walk the whole heap, which cost the month query
about as much as building the rows. Nothing built in such a loop forms a cycle, so pausing loses nothing;
only use it around code with no ``await`` (other tasks must not run with the collector off).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
