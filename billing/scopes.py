"""Scopes: which lines a commitment (minimum, cap, discount, credit) looks at.

A scope is a conjunction of optional filters (sites, kinds, categories, charges). Scopes are resolved once
per terms version; the relations between them (containment, disjointness) decide at validation time how
a minimum true-up interacts with an annual cap, so that question never has to be guessed while rating.
"""

from __future__ import annotations

from billing.terms import Scope

DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    "discount": ("services", "retainer", "ai_usage", "milestone"),
    "minimum": ("ai_usage",),
    "annual_cap": ("ai_usage",),
    "credit": ("services", "retainer", "ai_usage", "milestone", "minimum_true_up"),
}


class ResolvedScope:
    __slots__ = ("categories", "charges", "kinds", "sites")

    def __init__(
        self,
        sites: frozenset[str] | None,
        kinds: frozenset[str],
        categories: frozenset[str] | None,
        charges: frozenset[str] | None,
    ) -> None:
        self.sites = sites
        self.kinds = kinds
        self.categories = categories
        self.charges = charges

    def matches(self, site: str, kind: str, category: str | None, charge: str | None) -> bool:
        if kind not in self.kinds:
            return False
        if self.sites is not None and site not in self.sites:
            return False
        if self.categories is not None and category not in self.categories:
            return False
        return self.charges is None or charge in self.charges

    def key(self) -> tuple[object, ...]:
        def s(x: frozenset[str] | None) -> tuple[str, ...] | None:
            return None if x is None else tuple(sorted(x))

        return (s(self.sites), s(self.kinds), s(self.categories), s(self.charges))


def resolve(scope: Scope, use: str, site: str | None = None) -> ResolvedScope:
    """Resolve a scope for one use (defaults differ per use), optionally pinned to one site instance."""
    kinds = frozenset(scope.kinds if scope.kinds is not None else DEFAULT_KINDS[use])
    sites: frozenset[str] | None = None if scope.sites is None else frozenset(scope.sites)
    if site is not None:
        sites = frozenset([site])
    cats = None if scope.categories is None else frozenset(scope.categories)
    charges = None if scope.charges is None else frozenset(scope.charges)
    return ResolvedScope(sites, kinds, cats, charges)


def _sub(inner: frozenset[str] | None, outer: frozenset[str] | None) -> bool:
    if outer is None:
        return True
    if inner is None:
        return False
    return inner <= outer


def _apart(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    return a is not None and b is not None and not (a & b)


def contains(outer: ResolvedScope, inner: ResolvedScope) -> bool:
    """Every line ``inner`` can match is also matched by ``outer``."""
    return (
        _sub(inner.sites, outer.sites)
        and inner.kinds <= outer.kinds
        and _sub(inner.categories, outer.categories)
        and _sub(inner.charges, outer.charges)
    )


def disjoint(a: ResolvedScope, b: ResolvedScope) -> bool:
    """No line can match both scopes."""
    return (
        _apart(a.sites, b.sites)
        or not (a.kinds & b.kinds)
        or _apart(a.categories, b.categories)
        or _apart(a.charges, b.charges)
    )


def instance_sites(scope: Scope, per_site: bool, declared_sites: list[str]) -> list[str | None]:
    """Sites a per-site commitment expands to (``[None]`` for a single, unpinned instance)."""
    if not per_site:
        return [None]
    if scope.sites is not None:
        return list(scope.sites)
    return list(declared_sites)
