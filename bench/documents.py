"""Benchmark: invoice PDFs per second for a 2-page, two-site invoice on one core (goal: >= 20/s).

Baseline, in the same run: Typst compiling a trivial one-page document with the same bundled fonts;
``ratio_to_trivial`` is invoice throughput / trivial throughput.

Month-end revenue recognition (goal: < 30 s for 2,000 contracts): a year of monthly invoices per contract
(a two-site usage invoice plus a retainer billed in advance) is scheduled (``billing.recognition.schedule``)
and every contract's position at the month's end worked out (``position``) — the pure part of the run; the
revenue schedule rows are written as each invoice is issued, not at month end. Baseline in the same run:
adding up the same amounts with no rules (``recognition_ratio`` = recognition time / baseline time).

    python bench/documents.py            # 200 invoices
    python bench/documents.py --quick    # 40 invoices, seconds
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pypdf
import typst

import billing
from billing.inputs import RatingInputs, UsageAggregate
from documents import Branding, InvoiceDocument, PartyAddress, render_invoice_pdf

TERMS = b"""
contract_id: bench
client: Bench Client Ltd
currency: USD
timezone: UTC
start_date: 2025-01-01
default_site: alpha
meters:
  - {id: calls, event_type: com.x.call, aggregation: sum, value: n, dimensions: {site: site, model: model}}
versions:
  - effective_from: 2025-01
    sites: [{id: alpha, name: Alpha Plant}, {id: beta, name: Beta Office}]
    usage_charges:
      - {id: calls, meter: calls, description: Model calls, unit: calls, group_by: [model],
         pricing: {model: per_unit, unit_price: "0.013"}}
"""


def two_page_invoice(models: int = 22) -> InvoiceDocument:
    from decimal import Decimal

    terms = billing.load_terms(TERMS)
    agg = [
        UsageAggregate(meter="calls", dimensions={"site": s, "model": f"m{i:02d}"}, quantity=Decimal(100 + i))
        for s in ("alpha", "beta")
        for i in range(models)
    ]
    draft, _ = billing.rate(terms, RatingInputs(usage=agg), None, "2025-01")
    return InvoiceDocument(
        draft=billing.to_builtins(draft),
        status="approved",
        number="INV-2025-00001",
        invoice_date=date(2025, 2, 3),
        client=PartyAddress(name="Bench Client Ltd", address_lines=["1 High St", "Leeds"]),
        branding=Branding(name="Studio", payment_terms="Net 30", payment_instructions="IBAN GB00"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 40 if parser.parse_args().quick else 200
    doc = two_page_invoice()
    pages = len(pypdf.PdfReader(io.BytesIO(render_invoice_pdf(doc))).pages)  # also warms the font cache
    t = time.perf_counter()
    for _ in range(n):
        render_invoice_pdf(doc)
    pdf_s = n / (time.perf_counter() - t)
    compiler = typst.Compiler(ignore_system_fonts=True)
    compiler.compile(input=b"Hello", format="pdf")
    t = time.perf_counter()
    for _ in range(n):
        compiler.compile(input=b"= Trivial\nHello, world.", format="pdf")
    trivial_s = n / (time.perf_counter() - t)
    print(f"invoice: {pages} pages, {len(doc.draft['lines'])} lines; {n} renders")
    print(f"invoice PDFs/s:  {pdf_s:8.1f}  (goal >= 20)")
    print(f"trivial PDFs/s:  {trivial_s:8.1f}  (baseline)")
    ratio = pdf_s / trivial_s
    contracts = 200 if parser.parse_args().quick else 2000
    recognition_s, baseline_s = month_end_recognition(contracts)
    print(f"recognition: {contracts} contracts x 12 invoices in {recognition_s:.2f} s (goal < 30 s for 2,000)")
    print(
        f"RESULT pdf_per_s={pdf_s:.1f} trivial_per_s={trivial_s:.1f} ratio_to_trivial={ratio:.3f} pages={pages} "
        f"contracts={contracts} recognition_s={recognition_s:.3f} recognition_baseline_s={baseline_s:.3f} "
        f"recognition_ratio={recognition_s / baseline_s:.1f}"
    )


def month_end_recognition(contracts: int) -> tuple[float, float]:
    """Seconds to schedule a year of invoices for ``contracts`` contracts and take each one's month-end position,
    and, as the baseline, to add up the same line amounts with no rules."""
    import msgspec

    from billing.recognition import Entry, position, schedule

    base = billing.decode(billing.encode(two_page_invoice(models=6).draft), billing.InvoiceDraft)
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    retainer = msgspec.structs.replace(
        base.lines[0], kind="retainer", key="retainer|r|fee|", amount=base.lines[0].amount
    )
    drafts = []
    for i, month in enumerate(months):
        advance = months[min(i + 1, 11)]
        fee = msgspec.structs.replace(retainer, key=f"retainer|r|fee|{advance}")
        drafts.append(msgspec.structs.replace(base, period=month, lines=[*base.lines, fee]))
    t = time.perf_counter()
    for _ in range(contracts):
        entries = [Entry(month=e.month, issued=d.period, amount=e.amount) for d in drafts for e in schedule(d)]
        position(entries, "2025-12", "USD")
    recognition = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(contracts):
        sum(line.amount for d in drafts for line in d.lines)
    return recognition, time.perf_counter() - t


if __name__ == "__main__":
    main()
