"""Selecting the items a scope covers, using a per-site index so per-site commitments stay cheap."""

from __future__ import annotations

from billing.items import Item
from billing.scopes import ResolvedScope


class ItemIndex:
    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.by_site: dict[str, list[Item]] = {}
        for it in items:
            self.add_to_site(it)

    def add_to_site(self, it: Item) -> None:
        lst = self.by_site.get(it.site)
        if lst is None:
            self.by_site[it.site] = [it]
        else:
            lst.append(it)

    def add(self, it: Item) -> None:
        self.items.append(it)
        self.add_to_site(it)

    def select(self, scope: ResolvedScope) -> list[Item]:
        sites = scope.sites
        if sites is not None and len(sites) == 1:
            (site,) = sites
            source = self.by_site.get(site, [])
        else:
            source = self.items
        m = scope.matches
        return [it for it in source if it.min_ref is None and m(it.site, it.kind, it.category, it.charge)]

    def select_with_true_ups(self, scope: ResolvedScope) -> list[Item]:
        """Like ``select`` but true-up items are matched by their kind like any other line (credits)."""
        sites = scope.sites
        source = self.by_site.get(next(iter(sites)), []) if sites is not None and len(sites) == 1 else self.items
        m = scope.matches
        return [it for it in source if m(it.site, it.kind, it.category, it.charge)]
