"""Bill-shock simulation: what each site would have paid under a proposed terms version.

Before an amendment is sent, finance rates past periods (one or a year) twice from the same opening
state — once under the terms in force, once with the proposed version in force from the first simulated
period — and reviews the per-site differences. Both runs use the full pipeline (minimums, caps carried
across the simulated periods, credits, tax), so the comparison shows what the client would really see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import msgspec

from billing.engine import rate
from billing.inputs import RatingInputs
from billing.invoice import InvoiceDraft
from billing.periods import Period
from billing.plan import compile_terms
from billing.state import CarriedState
from billing.terms import ContractTerms, ContractVersion

_CENT = Decimal("0.01")


class SiteShock(msgspec.Struct, frozen=True, kw_only=True):
    site: str
    name: str
    current: Decimal
    proposed: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool


class PeriodShock(msgspec.Struct, frozen=True, kw_only=True):
    period: str
    current_subtotal: Decimal
    proposed_subtotal: Decimal
    current_total: Decimal
    proposed_total: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool
    sites: list[SiteShock]


class BillShockReport(msgspec.Struct, frozen=True, kw_only=True):
    contract_id: str
    client: str
    currency: str
    proposed_effective_from: str
    threshold_percent: Decimal
    periods: list[PeriodShock]
    sites: list[SiteShock]
    current_total: Decimal
    proposed_total: Decimal
    difference: Decimal
    percent: Decimal | None
    flagged: bool


def _pct(cur: Decimal, new: Decimal) -> Decimal | None:
    if cur == 0:
        return None
    return ((new - cur) * 100 / cur).quantize(_CENT)


def _flag(cur: Decimal, new: Decimal, threshold: Decimal) -> bool:
    pct = _pct(cur, new)
    return (cur == 0 and new > 0) if pct is None else pct >= threshold


def proposed_terms(terms: ContractTerms, proposed: ContractVersion, first: Period) -> ContractTerms:
    """The terms with ``proposed`` in force from ``first`` (replacing any later versions)."""
    keep = [v for v in terms.versions if Period.parse(v.effective_from) < first]
    version = msgspec.structs.replace(proposed, effective_from=first.key)
    return msgspec.structs.replace(terms, versions=[*keep, version])


def simulate(
    terms: ContractTerms,
    proposed: ContractVersion | ContractTerms,
    inputs: Mapping[str, RatingInputs],
    state: CarriedState | None = None,
    periods: Sequence[str] | None = None,
    threshold_percent: Decimal = Decimal(10),
) -> BillShockReport:
    """Rate ``periods`` (default: every period in ``inputs``) under both terms and compare per site."""
    keys = sorted(periods if periods is not None else inputs)
    if not keys:
        raise ValueError("nothing to simulate: no periods")
    first = Period.parse(keys[0])
    alt = proposed if isinstance(proposed, ContractTerms) else proposed_terms(terms, proposed, first)
    cur_plan, alt_plan = compile_terms(terms), compile_terms(alt)
    cur_state = alt_state = state
    rows: list[PeriodShock] = []
    site_tot: dict[str, list[Decimal]] = {}
    names: dict[str, str] = {}
    for k in keys:
        inp = inputs.get(k, RatingInputs())
        cur, cur_state = rate(cur_plan, inp, cur_state, k)
        new, alt_state = rate(alt_plan, inp, alt_state, k)
        rows.append(_period_row(k, cur, new, threshold_percent, site_tot, names))
    sites = [
        SiteShock(
            site=s,
            name=names[s],
            current=v[0],
            proposed=v[1],
            difference=v[1] - v[0],
            percent=_pct(v[0], v[1]),
            flagged=_flag(v[0], v[1], threshold_percent),
        )
        for s, v in site_tot.items()
    ]
    cur_total = sum((r.current_total for r in rows), Decimal(0))
    new_total = sum((r.proposed_total for r in rows), Decimal(0))
    return BillShockReport(
        contract_id=terms.contract_id,
        client=terms.client or terms.contract_id,
        currency=terms.currency,
        proposed_effective_from=first.key,
        threshold_percent=threshold_percent,
        periods=rows,
        sites=sites,
        current_total=cur_total,
        proposed_total=new_total,
        difference=new_total - cur_total,
        percent=_pct(cur_total, new_total),
        flagged=any(r.flagged for r in rows) or any(s.flagged for s in sites),
    )


def _period_row(
    period: str,
    cur: InvoiceDraft,
    new: InvoiceDraft,
    threshold: Decimal,
    site_tot: dict[str, list[Decimal]],
    names: dict[str, str],
) -> PeriodShock:
    zero = Decimal(0) + cur.subtotal * 0
    cs = {s.site: s for s in cur.site_subtotals}
    ns = {s.site: s for s in new.site_subtotals}
    order = [s.site for s in cur.site_subtotals] + [s.site for s in new.site_subtotals if s.site not in cs]
    sites = []
    for site in order:
        c = cs[site].amount if site in cs else zero
        n = ns[site].amount if site in ns else zero
        names[site] = (cs.get(site) or ns[site]).name
        acc = site_tot.setdefault(site, [zero, zero])
        acc[0] += c
        acc[1] += n
        sites.append(
            SiteShock(
                site=site,
                name=names[site],
                current=c,
                proposed=n,
                difference=n - c,
                percent=_pct(c, n),
                flagged=_flag(c, n, threshold),
            )
        )
    return PeriodShock(
        period=period,
        current_subtotal=cur.subtotal,
        proposed_subtotal=new.subtotal,
        current_total=cur.total,
        proposed_total=new.total,
        difference=new.total - cur.total,
        percent=_pct(cur.total, new.total),
        flagged=_flag(cur.total, new.total, threshold),
        sites=sites,
    )
