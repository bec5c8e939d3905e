"""The verification block: independent re-additions proving the invoice adds up.

The engine sums integer minor units while building the invoice; this module re-adds the *output*
Decimals (lines, site subtotals, tax lines) separately, so a bug in either path shows up as a failed
check instead of a wrong invoice. ``verify`` re-runs the same checks on any stored draft.
"""

from __future__ import annotations

from decimal import Decimal

from billing.invoice import Check, InvoiceDraft, InvoiceLine, SiteSubtotal, TaxLine, Verification


def build_verification(
    lines: list[InvoiceLine],
    sites: list[SiteSubtotal],
    subtotal: Decimal,
    tax: list[TaxLine],
    tax_total: Decimal,
    total: Decimal,
) -> Verification:
    zero = Decimal(0)
    lines_total = zero
    taxed_lines = zero
    for ln in lines:
        lines_total += ln.amount
        if ln.tax_rate is not None:
            taxed_lines += ln.amount
    sites_total = sum((s.amount for s in sites), zero)
    tax_base = sum((t.base for t in tax), zero)
    tax_sum = sum((t.amount for t in tax), zero)
    checks = [
        Check(name="lines = site subtotals", ok=lines_total == sites_total, left=lines_total, right=sites_total),
        Check(name="site subtotals = subtotal", ok=sites_total == subtotal, left=sites_total, right=subtotal),
        Check(name="taxed lines = tax bases", ok=taxed_lines == tax_base, left=taxed_lines, right=tax_base),
        Check(name="tax lines = tax total", ok=tax_sum == tax_total, left=tax_sum, right=tax_total),
        Check(name="subtotal + tax = total", ok=subtotal + tax_total == total, left=subtotal + tax_total, right=total),
    ]
    by_site: dict[str, Decimal] = {}
    for ln in lines:
        by_site[ln.site] = by_site.get(ln.site, zero) + ln.amount
    for s in sites:
        site_sum = by_site.get(s.site, zero)
        if site_sum != s.amount:
            checks.append(Check(name=f"lines of site {s.site} = its subtotal", ok=False, left=site_sum, right=s.amount))
    return Verification(
        lines_total=lines_total,
        site_subtotals_total=sites_total,
        subtotal=subtotal,
        tax_base_total=tax_base,
        tax_total=tax_total,
        total=total,
        checks=checks,
        balanced=all(c.ok for c in checks),
    )


def verify(draft: InvoiceDraft) -> list[str]:
    """Re-check a draft (e.g. one loaded from storage); returns the failed checks, empty when sound."""
    v = build_verification(draft.lines, draft.site_subtotals, draft.subtotal, draft.tax, draft.tax_total, draft.total)
    failed = [f"{c.name}: {c.left} != {c.right}" for c in v.checks if not c.ok]
    if v != draft.verification:
        failed.append("stored verification block differs from a recomputation")
    return failed
