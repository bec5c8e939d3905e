"""Revenue recognition (billing/recognition.py): each line is earned in its service month — a retainer billed
in advance in the month it pays for — and for any sequence of issuing, crediting, consuming prepaid credit and
accepting milestones, recognised + deferred always equals invoiced − credited, as of the end of any month."""

from __future__ import annotations

from decimal import Decimal

import hypothesis.strategies as st
import msgspec
from hypothesis import given, settings

from billing import Credited, CreditRequest, credit_note
from billing.credit_notes import LineRequest
from billing.invoice import InvoiceDraft
from billing.recognition import Entry, position, reversal, schedule
from tests.billing.test_credit_notes import after, draft

MONTHS = ["2026-10", "2026-11", "2026-12", "2027-01", "2027-02"]


def invoice(period: str, lines: list[tuple[str, str, int]]) -> InvoiceDraft:
    """Lines of (kind, key, minor units), untaxed, on an invoice for ``period``."""
    base = draft([(units, None) for _, _, units in lines])
    rewritten = [
        msgspec.structs.replace(line, kind=kind, key=key)
        for line, (kind, key, _) in zip(base.lines, lines, strict=True)
    ]
    return msgspec.structs.replace(base, period=period, lines=rewritten)


def test_a_retainer_billed_in_advance_is_earned_in_the_month_it_pays_for() -> None:
    november = invoice(
        "2026-11",
        [
            ("retainer", "retainer|platform|fee|2026-11", 300_000),
            ("retainer", "retainer|platform|fee|2026-12", 300_000),
            ("services", "services|WEB|dev", 120_000),
            ("credit", "credit|prepaid|2026-11", -20_000),
        ],
    )
    earned = schedule(november)
    assert [(e.month, e.amount) for e in earned] == [
        ("2026-11", Decimal("3000.00")),
        ("2026-12", Decimal("3000.00")),
        ("2026-11", Decimal("1200.00")),
    ]  # consumed prepaid credit is no revenue line
    entries = [Entry(month=e.month, issued="2026-11", amount=e.amount) for e in earned]
    end_of_november = position(entries, "2026-11", "USD")
    assert end_of_november.recognised_in_month == Decimal("4200.00")
    assert end_of_november.deferred == Decimal("3000.00")
    end_of_december = position(entries, "2026-12", "USD")
    assert end_of_december.recognised_in_month == Decimal("3000.00") and end_of_december.deferred == Decimal("0.00")


def test_a_credit_note_is_taken_back_where_the_credited_line_was_earned() -> None:
    november = invoice(
        "2026-11", [("retainer", "retainer|r|fee|2026-12", 100_000), ("services", "services|P|x", 50_000)]
    )
    note = credit_note(
        november, Credited(), CreditRequest(mode="lines", lines=[LineRequest(line=0, amount=Decimal("400"))])
    )
    assert [(e.month, e.amount) for e in reversal(schedule(november), note)] == [("2026-12", Decimal("-400.00"))]


operation = st.tuples(
    st.sampled_from(["issue", "accept", "consume", "credit"]),
    st.sampled_from(MONTHS),
    st.integers(min_value=1, max_value=900_000),
    st.integers(min_value=0, max_value=10**6),
)


@settings(max_examples=200, deadline=None)
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_recognised_plus_deferred_is_invoiced_less_credited_at_the_end_of_every_month(
    operations: list[tuple[str, str, int, int]],
) -> None:
    entries: list[Entry] = []
    invoiced: list[tuple[str, Decimal]] = []  # (issued month, revenue net) of each document
    issued: list[tuple[InvoiceDraft, str, Credited]] = []
    for kind, month, units, seed in operations:
        nxt = MONTHS[min(MONTHS.index(month) + 1, len(MONTHS) - 1)]
        if kind == "credit" and issued:
            index = seed % len(issued)
            doc, when, credited = issued[index]
            mode = ("full", "amount")[seed % 2]
            try:
                note = credit_note(
                    doc, credited, CreditRequest(mode=mode, amount=Decimal(units % 50_000 + 1).scaleb(-2))
                )
            except ValueError:
                continue
            credit_month = max(month, when)
            taken = reversal(schedule(doc), note)
            entries += [Entry(month=e.month, issued=credit_month, amount=e.amount) for e in taken]
            revenue_lines = {e.line for e in schedule(doc)}
            invoiced.append((credit_month, -sum((c.amount for c in note.lines if c.line in revenue_lines), Decimal(0))))
            issued[index] = (doc, when, after(credited, note))
            continue
        lines = {
            "issue": [("retainer", f"retainer|r|fee|{nxt}", units), ("services", "services|P|dev", units // 3 + 1)],
            "accept": [("milestone", "milestone|m1", units)],
            "consume": [("ai_usage", "ai_usage|tokens", units), ("credit", "credit|prepaid", -(units // 2))],
            "credit": [("services", "services|P|dev", units)],
        }[kind]
        doc = invoice(month, lines)
        earned = schedule(doc)
        entries += [Entry(month=e.month, issued=month, amount=e.amount) for e in earned]
        invoiced.append((month, sum((e.amount for e in earned), Decimal(0))))
        issued.append((doc, month, Credited()))
    for month in MONTHS:
        at = position(entries, month, "USD")
        expected = sum((amount for when, amount in invoiced if when <= month), Decimal(0))
        assert at.recognised_to_date + at.deferred == at.issued_to_date == expected
        assert at.deferred == sum((e.amount for e in entries if e.issued <= month < e.month), Decimal(0))
