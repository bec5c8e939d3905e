"""Benchmark: rate one month for 1,000 contracts x 20 sites x 5 categories.

Every contract has graduated/volume/per-unit tiers per category, per-site monthly minimums, per-site
annual caps (some of them binding), a discount and tax, and traces are always on. The contracts are
compiled once (as the workflows do per terms version), a first month is rated untimed to build realistic
carried state (cap consumption, late-usage records), and the second month is timed.

Baseline, in the same run: a bare Decimal multiply-and-sum of the same quantities with each category's
first-tier price. ``ratio_to_bare`` is engine throughput / bare throughput.

    python bench/rating.py            # 1,000 contracts (goal: the month in <= 5 s on one core)
    python bench/rating.py --quick    # 200 contracts, well under a minute
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import billing
from billing.terms import (
    AnnualCap,
    ContractTerms,
    ContractVersion,
    Discount,
    Graduated,
    Minimum,
    Options,
    PerUnit,
    Scope,
    Site,
    Tax,
    TaxRate,
    Tier,
    UsageCharge,
    Volume,
)

SITES = 20
CATEGORIES = ["intake", "classify", "extract", "summarize", "review"]


def make_terms(n: int, rnd: random.Random) -> ContractTerms:
    charges = []
    for j, cat in enumerate(CATEGORIES):
        base = Decimal(rnd.randint(20, 120)) / 100
        tiers = [
            Tier(from_=Decimal(0), up_to=Decimal(1000), unit_price=base),
            Tier(
                from_=Decimal(1000),
                up_to=Decimal(10000),
                unit_price=(base * Decimal("0.8")).quantize(Decimal("0.0001")),
            ),
            Tier(from_=Decimal(10000), up_to=None, unit_price=(base * Decimal("0.6")).quantize(Decimal("0.0001"))),
        ]
        pricing: Graduated | Volume | PerUnit
        pricing = (Graduated(tiers=tiers), Volume(tiers=tiers), PerUnit(unit_price=base))[j % 3]
        charges.append(
            UsageCharge(
                id=f"proc-{cat}",
                meter="documents",
                filter={"category": cat},
                unit="documents",
                description=f"Processing {cat}",
                pricing=pricing,
            )
        )
    version = ContractVersion(
        effective_from="2025-01",
        options=Options(),
        sites=[Site(id=f"s{k:02d}", name=f"Site {k:02d}") for k in range(SITES)],
        usage_charges=charges,
        minimums=[
            Minimum(id="site-min", amount=Decimal("400.00"), per_site=True, scope=Scope(categories=CATEGORIES[:3]))
        ],
        annual_caps=[AnnualCap(id="site-cap", amount=Decimal(rnd.choice([6000, 12000, 60000])), per_site=True)],
        discounts=[Discount(id="volume", percent=Decimal("5"), scope=Scope(kinds=["ai_usage"]))],
        tax=Tax(rates=[TaxRate(id="vat", name="VAT 20%", percent=Decimal(20))], default="vat"),
    )
    return ContractTerms(
        contract_id=f"c{n:04d}",
        client=f"Client {n}",
        currency="USD",
        timezone="America/New_York",
        start_date=__import__("datetime").date(2025, 1, 1),
        default_site="s00",
        versions=[version],
    )


def make_usage(rnd: random.Random) -> list[billing.UsageAggregate]:
    out = []
    for k in range(SITES):
        for cat in CATEGORIES:
            # fractional quantities, mostly hundreds to thousands, some sites tiny (minimums) or huge (caps)
            q = Decimal(int(rnd.expovariate(1 / 2500) * 100)) / 100
            out.append(
                billing.UsageAggregate(meter="documents", dimensions={"site": f"s{k:02d}", "category": cat}, quantity=q)
            )
    return out


def bare(prices: list[list[Decimal]], usages: list[list[billing.UsageAggregate]]) -> Decimal:
    total = Decimal(0)
    for pr, us in zip(prices, usages, strict=True):
        for i, u in enumerate(us):
            total += u.quantity * pr[i % 5]
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 contracts")
    ap.add_argument("--contracts", type=int, default=None)
    args = ap.parse_args()
    n = args.contracts or (200 if args.quick else 1000)
    rnd = random.Random(4)
    terms = [make_terms(i, rnd) for i in range(n)]
    first = [make_usage(rnd) for _ in range(n)]
    second = [make_usage(rnd) for _ in range(n)]
    prices = [
        [
            c.pricing.unit_price if isinstance(c.pricing, PerUnit) else c.pricing.tiers[0].unit_price
            for c in t.versions[0].usage_charges
        ]
        for t in terms
    ]

    t0 = time.perf_counter()
    plans = [billing.compile_terms(t) for t in terms]
    compile_s = time.perf_counter() - t0
    states = [
        billing.rate(p, billing.RatingInputs(usage=u), None, "2025-01")[1] for p, u in zip(plans, first, strict=True)
    ]

    inputs = [billing.RatingInputs(usage=u) for u in second]
    t0 = time.perf_counter()
    drafts = [billing.rate(p, i, s, "2025-02")[0] for p, i, s in zip(plans, inputs, states, strict=True)]
    engine_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(5):
        bare_total = bare(prices, second)
    bare_s = (time.perf_counter() - t0) / 5

    t0 = time.perf_counter()
    encoded = sum(len(billing.encode(d)) for d in drafts)
    encode_s = time.perf_counter() - t0

    lines = sum(len(d.lines) for d in drafts)
    capped = sum(1 for d in drafts for ln in d.lines if ln.kind == "cap_adjustment")
    trued = sum(1 for d in drafts for ln in d.lines if ln.kind == "minimum_true_up")
    assert all(d.verification.balanced for d in drafts)
    cps = n / engine_s
    bare_cps = n / bare_s
    print(
        f"contracts: {n} x {SITES} sites x {len(CATEGORIES)} categories; {lines} invoice lines "
        f"({capped} cap adjustments, {trued} minimum true-ups), traces on"
    )
    print(f"compile (once per terms version): {compile_s:.3f} s")
    print(f"engine:  {engine_s:.3f} s for the month  -> {cps:,.0f} contracts/s")
    print(
        f"bare Decimal multiply-and-sum: {bare_s * 1000:.1f} ms -> {bare_cps:,.0f} contracts/s (sum {bare_total:.2f})"
    )
    print(f"encode invoices to JSON: {encode_s:.3f} s ({encoded / 1e6:.1f} MB)")
    print(
        f"engine is {engine_s / bare_s:.0f}x the bare arithmetic; full month "
        f"{'within' if engine_s * 1000 / n <= 5 else 'OVER'} the 5 s / 1,000 contracts goal (scaled)"
    )
    print(f"RESULT contracts_per_s={cps:.0f} ratio_to_bare={cps / bare_cps:.4f}")


if __name__ == "__main__":
    main()
