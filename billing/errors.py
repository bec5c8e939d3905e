"""Error types shared by the engine.

Both errors carry *every* problem found rather than the first one: a finance user fixing a contract or
an input file should see the whole list in one round trip, each problem pointing at its place in the
document with a JSON-pointer-like path.
"""

from __future__ import annotations

import msgspec


class Problem(msgspec.Struct, frozen=True, order=True):
    """One thing wrong with a contract document or with rating inputs.

    ``path`` is a JSON pointer into the document (``/versions/1/usage_charges/0/pricing/tiers/2/up_to``)
    so editors and the API can highlight the offending field.
    """

    path: str
    message: str


class InvalidTerms(ValueError):
    """Contract terms that must not be used for rating (listing every problem)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p.path or '/'}: {p.message}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in contract terms:\n{lines}")


class RatingError(ValueError):
    """Rating inputs or carried state that cannot produce a trustworthy invoice."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p.path or '/'}: {p.message}" for p in problems)
        super().__init__(f"cannot rate: {len(problems)} problem(s):\n{lines}")
