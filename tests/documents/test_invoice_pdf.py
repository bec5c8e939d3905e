"""The invoice PDF carries exactly the JSON's lines, site subtotals, taxes and total, per locale and currency."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
import pypdf
from babel.numbers import format_currency

import billing
from documents import Branding, InvoiceDocument, PartyAddress, render_invoice_pdf
from tests.billing.conftest import EXAMPLES, run_example, terms_from, usage

NASTY = 'Acme #exit() $x^2$ *bold* [link] \\ _u_ @ref <tag> "q"'


def _text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    return len(reader.pages), " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def _money(x: Any, currency: str, locale: str) -> str:
    s = format_currency(Decimal(str(x)), currency, locale=locale, currency_digits=True, decimal_quantization=False)
    return " ".join(s.replace("\u00a0", " ").replace("\u202f", " ").split())


def _doc(
    draft: dict[str, Any], locale: str = "en_US", client: str = "Client Co", appendix: bool = False
) -> InvoiceDocument:
    address = {"line1": "1 High St", "city": "Leeds", "country": "GB"}
    return InvoiceDocument(
        draft=draft,
        status="approved",
        number="INV-2025-00007",
        invoice_date=date(2025, 2, 3),
        client=PartyAddress.from_billing_address(client, address, "GB1"),
        branding=Branding(name="Studio", locale=locale, payment_terms="Net 30", payment_instructions="IBAN GB00 1234"),
        appendix=appendix,
    )


def _assert_matches_json(draft: dict[str, Any], text: str, locale: str) -> None:
    cur = draft["currency"]
    for line in draft["lines"]:
        assert f"{line['description']}" in text
        assert _money(line["amount"], cur, locale) in text
    for sub in draft["site_subtotals"]:
        assert f"Subtotal {sub['name']} {_money(sub['amount'], cur, locale)}" in text
    for tax in draft["tax"]:
        assert _money(tax["amount"], cur, locale) in text
    assert f"Total {_money(draft['total'], cur, locale)}" in text


def _two_site_many_lines() -> dict[str, Any]:
    terms = terms_from(
        """
contract_id: big-usage
client: Big Usage Ltd
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
      - id: calls
        meter: calls
        description: Model calls
        unit: calls
        group_by: [model]
        pricing: {model: per_unit, unit_price: "0.013"}
"""
    )
    agg = [usage("calls", 100 + i * 37, site=s, model=f"model-{i:02d}") for s in ("alpha", "beta") for i in range(40)]
    draft, _ = billing.rate(terms, billing.RatingInputs(usage=agg), None, "2025-01")
    return billing.to_builtins(draft)


def test_a_two_site_invoice_spans_pages_and_prints_every_line_subtotal_and_total_of_the_json() -> None:
    draft = _two_site_many_lines()
    assert len(draft["site_subtotals"]) == 2 and len(draft["lines"]) == 80
    pages, text = _text(render_invoice_pdf(_doc(draft)))
    assert pages >= 2
    _assert_matches_json(draft, text, "en_US")
    assert text.count("Description Qty Unit Unit price Amount") == pages  # the header repeats on every page
    assert "Payment terms Net 30" in text and "IBAN GB00 1234" in text


def test_a_jpy_invoice_prints_whole_yen_and_its_consumption_tax() -> None:
    draft = billing.to_builtins(run_example(EXAMPLES / "07-jpy-client").runs[0].draft)
    _, text = _text(render_invoice_pdf(_doc(draft)))
    _assert_matches_json(draft, text, "en_US")
    assert "¥171,694" in text and "¥2.5" in text  # total at 0 places, the unit price as stored


def test_a_kwd_invoice_prints_three_decimals_in_a_german_locale() -> None:
    draft = billing.to_builtins(run_example(EXAMPLES / "08-kwd-client").runs[0].draft)
    _, text = _text(render_invoice_pdf(_doc(draft, locale="de_DE")))
    _assert_matches_json(draft, text, "de_DE")
    assert "1.295,538 KWD" in text
    assert "3. Februar 2025" in text


def test_typst_syntax_in_user_text_prints_literally() -> None:
    draft = billing.to_builtins(run_example(EXAMPLES / "08-kwd-client").runs[0].draft)
    _, text = _text(render_invoice_pdf(_doc(draft, client=NASTY)))
    assert " ".join(NASTY.split()) in text


def test_the_same_invoice_renders_to_the_same_bytes_and_the_appendix_explains_lines() -> None:
    draft = billing.to_builtins(run_example(EXAMPLES / "07-jpy-client").runs[0].draft)
    first = render_invoice_pdf(_doc(draft, appendix=True))
    assert first == render_invoice_pdf(_doc(draft, appendix=True))
    _, text = _text(first)
    assert "Appendix: how each line was calculated" in text


def test_a_draft_is_marked_draft() -> None:
    draft = billing.to_builtins(run_example(EXAMPLES / "07-jpy-client").runs[0].draft)
    pdf = render_invoice_pdf(msgspec.structs.replace(_doc(draft), status="draft", number=None))
    _, text = _text(pdf)
    assert "DRAFT" in text and "Draft invoice" in text
