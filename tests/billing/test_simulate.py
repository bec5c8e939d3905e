"""Bill-shock simulation over a year: per-period and per-site differences between current and proposed terms."""

from __future__ import annotations

from decimal import Decimal

import msgspec

import billing
from billing.simulate import simulate
from cli.billing import read_usage

from .conftest import EXAMPLES


def test_a_lower_annual_cap_shows_up_only_where_it_binds() -> None:
    ex = EXAMPLES / "01-multisite-ai-platform"
    terms = billing.load_terms(ex / "contract.yaml")
    by_period = read_usage(ex / "usage.csv", terms)
    periods = [f"2025-{m:02d}" for m in range(1, 13)]
    inputs = {p: billing.RatingInputs(usage=by_period[p]) for p in periods}
    current = terms.versions[0]
    caps = [msgspec.structs.replace(current.annual_caps[0], amount=Decimal("10000.00"))]
    proposed = msgspec.structs.replace(current, annual_caps=caps, label="lower cap")
    report = simulate(terms, proposed, inputs, None, periods, Decimal(5))
    sites = {s.site: s for s in report.sites}
    # North bills 12,000.00 over the year today (cap); with a 10,000.00 cap it stops earlier:
    # Jan-Apr 2,250 + 2,250 + 2,350 + 2,250 = 9,100.00, May 900.00 (cap), then nothing.
    assert (sites["north"].current, sites["north"].proposed) == (Decimal("12000.00"), Decimal("10000.00"))
    assert sites["north"].percent == Decimal("-16.67")
    assert not sites["north"].flagged  # a decrease is not bill shock
    assert sites["south"].difference == 0 and sites["east"].difference == 0
    may = next(p for p in report.periods if p.period == "2025-05")
    assert (may.current_total, may.proposed_total) == (Decimal("3150.00"), Decimal("1800.00"))
    assert report.difference == Decimal("-2000.00")
    assert not report.flagged


def test_a_price_rise_is_flagged_per_site_above_the_threshold() -> None:
    ex = EXAMPLES / "06-volume-vs-graduated-tiers"
    terms = billing.load_terms(ex / "contract.yaml")
    usage = read_usage(ex / "usage.csv", terms)[None]
    v = terms.versions[0]
    ocr = msgspec.structs.replace(
        v.usage_charges[2], pricing=billing.terms.Package(package_size=Decimal(500), package_price=Decimal("18.00"))
    )
    proposed = msgspec.structs.replace(v, usage_charges=[v.usage_charges[0], v.usage_charges[1], ocr])
    report = simulate(terms, proposed, {"2025-05": billing.RatingInputs(usage=usage)}, threshold_percent=Decimal(5))
    sites = {s.site: s for s in report.sites}
    # OCR 12.00 -> 18.00 per package: site A +6.00 on 212.00 = +2.83%; B +12.00 on 204.04 = +5.88%;
    # C +6.00 on 832.01 = +0.72%
    assert {k: (s.difference, s.percent, s.flagged) for k, s in sites.items()} == {
        "a": (Decimal("6.00"), Decimal("2.83"), False),
        "b": (Decimal("12.00"), Decimal("5.88"), True),
        "c": (Decimal("6.00"), Decimal("0.72"), False),
    }
    # the client total includes VAT: 24.00 more before tax, 24.00 x 1.23 = 29.52 more in total
    assert report.difference == Decimal("29.52")
