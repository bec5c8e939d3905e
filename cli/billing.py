"""``agencyflow billing …``: preview an invoice, simulate bill shock, validate contract files.

Thin by design: files in, ``billing`` functions, rich tables or JSON out. Every number printed comes from
the same pure engine the workflows use.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import billing
from billing import schema as schema_mod
from billing.aggregation import aggregate_events, parse_usage_csv
from billing.explain import explain
from billing.inputs import LateUsage, MilestoneAcceptance, RatingInputs, TimeEntry, UsageAggregate
from billing.loader import convert_document, parse_document
from billing.periods import Period, is_period
from billing.simulate import BillShockReport, simulate
from billing.state import CarriedState
from billing.terms import ContractTerms, ContractVersion

app = typer.Typer(
    name="billing",
    help="Rate contracts into invoice drafts, simulate bill shock and validate contract files.",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    json = "json"


class CliError(Exception):
    pass


# -- input files -----------------------------------------------------------------------------------


def _fail(console: Console, title: str, problems: list[billing.Problem]) -> None:
    table = Table(title=title, show_lines=False)
    table.add_column("path", style="cyan", no_wrap=True)
    table.add_column("problem")
    for p in problems:
        table.add_row(escape(p.path or "/"), escape(p.message))
    console.print(table)
    raise typer.Exit(1)


def _load_contract(path: Path, console: Console) -> ContractTerms:
    try:
        return billing.load_terms(path)
    except billing.InvalidTerms as exc:
        _fail(console, f"{path}: {len(exc.problems)} problem(s)", exc.problems)
        raise  # unreachable, _fail exits


def _is_events(data: bytes, path: Path) -> bool:
    if path.suffix.lower() in (".csv", ".tsv"):
        return False
    head = data.lstrip()[:1]
    return head in (b"{", b"[")


def read_usage(path: Path, terms: ContractTerms) -> dict[str | None, list[UsageAggregate]]:
    """Usage per period from CloudEvents (JSON Lines / JSON array) or an aggregated CSV."""
    data = path.read_bytes()
    if _is_events(data, path):
        if not terms.meters:
            raise CliError(f"{path}: CloudEvents input needs meter definitions in the contract (/meters)")
        report = aggregate_events(data, terms.meters, terms.timezone, terms.client_key)
        for r in report.rejected:
            print(f"warning: {path}:{r.line}: event {r.id or '?'} rejected: {r.reason}", file=sys.stderr)
        if report.duplicates or report.unmatched or report.other_subject:
            print(
                f"note: {path}: {report.counted} events counted, {report.duplicates} duplicates, "
                f"{report.unmatched} without a meter, {report.other_subject} for other clients",
                file=sys.stderr,
            )
        return dict(report.by_period.items())
    try:
        return parse_usage_csv(data.decode("utf-8-sig"))
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from exc


def _rows(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if path.suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    tree = parse_document(data)
    if isinstance(tree, dict):
        for key in ("time_entries", "milestones", "entries"):
            if key in tree:
                tree = tree[key]
                break
    if not isinstance(tree, list):
        raise CliError(f"{path}: expected a list of records")
    return tree


def read_time(path: Path) -> list[TimeEntry]:
    out = []
    for i, row in enumerate(_rows(path)):
        row = {k: v for k, v in row.items() if v not in ("", None)}
        if "hours" in row and "minutes" not in row:
            row["minutes"] = str(Decimal(str(row.pop("hours"))) * 60)
        if "date" in row and "work_date" not in row:
            row["work_date"] = row.pop("date")
        entry, problems = convert_document(row, TimeEntry)
        if entry is None:
            raise CliError(f"{path}: entry {i}: " + "; ".join(f"{p.path} {p.message}" for p in problems))
        out.append(entry)
    return out


def read_milestones(path: Path) -> list[MilestoneAcceptance]:
    out = []
    for i, row in enumerate(_rows(path)):
        m, problems = convert_document({k: v for k, v in row.items() if v not in ("", None)}, MilestoneAcceptance)
        if m is None:
            raise CliError(f"{path}: milestone {i}: " + "; ".join(f"{p.path} {p.message}" for p in problems))
        out.append(m)
    return out


def read_state(path: Path) -> CarriedState:
    tree = parse_document(path.read_bytes())
    if isinstance(tree, dict) and "state" in tree and "lines" in tree:
        tree = tree["state"]
    st, problems = convert_document(tree, CarriedState)
    if st is None:
        raise CliError(f"{path}: not a carried state: " + "; ".join(f"{p.path} {p.message}" for p in problems))
    return st


def _period(text: str) -> Period:
    if not is_period(text):
        raise typer.BadParameter(f"expected YYYY-MM, got {text!r}")
    return Period.parse(text)


# -- output ------------------------------------------------------------------------------------------


def _money(x: Decimal | None) -> str:
    if x is None:
        return ""
    return f"{x:,f}"  # plain fixed point: a yen subtotal of Decimal("8.5E+5") prints 850,000"


def _qty(x: Decimal | None) -> str:
    if x is None:
        return ""
    s = format(x.normalize(), "f") if x == x.to_integral_value() else format(x, "f")
    whole, _, frac = s.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-') or 0):,}" + (f".{frac}" if frac else "")


def render_invoice(console: Console, draft: billing.InvoiceDraft, show_trace: bool) -> None:
    console.print(
        f"[bold]{escape(draft.client)}[/bold]  contract {draft.contract_id}  period [bold]{draft.period}[/bold] "
        f"({draft.timezone}, {draft.period_start:%Y-%m-%d %H:%M}Z – {draft.period_end:%Y-%m-%d %H:%M}Z)  "
        f"terms {draft.terms_version}  currency {draft.currency}  rounding {draft.rounding}"
    )
    names = {s.site: s.name for s in draft.site_subtotals}
    table = Table(show_lines=show_trace)
    for col, just in (
        ("site", "left"),
        ("kind", "left"),
        ("description", "left"),
        ("quantity", "right"),
        ("unit price", "right"),
        ("amount", "right"),
        ("tax", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for ln in draft.lines:
        desc = escape(ln.description)
        if ln.delta_for:
            desc = f"[yellow]{desc}[/yellow]"
        if show_trace:
            desc += "\n" + "\n".join(f"[dim]  · {escape(t)}[/dim]" for t in explain(ln))
        qty = _qty(ln.quantity) + (f" {ln.unit}" if ln.quantity is not None and ln.unit else "")
        table.add_row(
            names.get(ln.site, ln.site), ln.kind, desc, qty, _money(ln.unit_price), _money(ln.amount), ln.tax_rate or ""
        )
    console.print(table)
    sub = Table(title="Totals", show_header=True)
    sub.add_column("")
    sub.add_column("amount", justify="right")
    for s in draft.site_subtotals:
        sub.add_row(f"site {s.name} ({s.lines} lines)", _money(s.amount))
    sub.add_row("[bold]subtotal[/bold]", f"[bold]{_money(draft.subtotal)}[/bold]")
    for t in draft.tax:
        sub.add_row(f"tax {t.name} {t.percent:f}% on {_money(t.base)}", _money(t.amount))
    sub.add_row(f"[bold]total {draft.currency}[/bold]", f"[bold]{_money(draft.total)}[/bold]")
    console.print(sub)
    v = draft.verification
    mark = "[green]balanced[/green]" if v.balanced else "[red]NOT BALANCED[/red]"
    console.print(
        f"verification: {mark} — lines {_money(v.lines_total)} = site subtotals "
        f"{_money(v.site_subtotals_total)} = subtotal {_money(v.subtotal)}; subtotal + tax "
        f"{_money(v.tax_total)} = total {_money(v.total)}"
    )
    if draft.commitments:
        ct = Table(title="Commitments after this invoice")
        for col in ("type", "id", "instance", "limit", "before", "this period", "adjustment", "after", "remaining"):
            ct.add_column(col, justify="left" if col in ("type", "id", "instance") else "right")
        for c in draft.commitments:
            ct.add_row(
                c.type,
                c.id,
                c.instance,
                _money(c.limit),
                _money(c.before),
                _money(c.basis),
                _money(c.adjustment),
                _money(c.after),
                _money(c.remaining),
            )
        console.print(ct)
    for n in draft.notes:
        color = "yellow" if n.severity == "warning" else "cyan"
        console.print(f"[{color}]{n.severity}[/{color}] {n.code}: {escape(n.message)}")


def render_shock(console: Console, r: BillShockReport) -> None:
    console.print(
        f"[bold]Bill-shock simulation[/bold] {r.client} ({r.contract_id}), proposed terms from "
        f"{r.proposed_effective_from}, flag at ≥ {r.threshold_percent}% increase, {r.currency}"
    )
    t = Table(title="Per period (totals incl. tax)")
    for col in ("period", "current", "proposed", "difference", "%", ""):
        t.add_column(col, justify="left" if col in ("period", "") else "right")
    for p in r.periods:
        t.add_row(
            p.period,
            _money(p.current_total),
            _money(p.proposed_total),
            _money(p.difference),
            "" if p.percent is None else f"{p.percent}",
            "[red]shock[/red]" if p.flagged else "",
        )
    console.print(t)
    s = Table(title="Per site over the simulated periods (before tax)")
    for col in ("site", "current", "proposed", "difference", "%", ""):
        s.add_column(col, justify="left" if col in ("site", "") else "right")
    for x in r.sites:
        s.add_row(
            x.name,
            _money(x.current),
            _money(x.proposed),
            _money(x.difference),
            "" if x.percent is None else f"{x.percent}",
            "[red]shock[/red]" if x.flagged else "",
        )
    console.print(s)
    pct = "" if r.percent is None else f" ({r.percent}%)"
    console.print(
        f"client total: current {_money(r.current_total)} → proposed {_money(r.proposed_total)}, "
        f"difference {_money(r.difference)}{pct}" + ("  [red]flagged[/red]" if r.flagged else "")
    )


def _emit_json(obj: Any) -> None:
    sys.stdout.write(msgspec.json.format(billing.encode(obj), indent=2).decode() + "\n")


# -- commands ------------------------------------------------------------------------------------------

ContractOpt = Annotated[
    Path, typer.Option("--contract", help="Contract terms file (YAML or JSON).", exists=True, dir_okay=False)
]


@app.command()
def preview(
    contract: ContractOpt,
    usage: Annotated[
        Path,
        typer.Option("--usage", help="CloudEvents JSON Lines or aggregated usage CSV.", exists=True, dir_okay=False),
    ],
    period: Annotated[str, typer.Option("--period", help="Billing period YYYY-MM (client time zone).")],
    time: Annotated[
        Path | None, typer.Option("--time", help="Approved time entries (CSV/YAML/JSON).", exists=True, dir_okay=False)
    ] = None,
    milestones: Annotated[
        Path | None,
        typer.Option("--milestones", help="Accepted milestones (CSV/YAML/JSON).", exists=True, dir_okay=False),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Carried state from the previous period (JSON).", exists=True, dir_okay=False),
    ] = None,
    late_usage: Annotated[
        Path | None,
        typer.Option(
            "--late-usage",
            help="Usage for already-invoiced periods, billed as delta lines.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    terminated_on: Annotated[
        str | None, typer.Option("--terminated-on", help="Last day of service (YYYY-MM-DD) to prorate a final cycle.")
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    trace: Annotated[bool, typer.Option("--trace", help="Show every line's trace in the table.")] = False,
) -> None:
    """Rate one period and print the invoice draft (and, as JSON, the carried state)."""
    console = Console()
    p = _period(period)
    terms = _load_contract(contract, console)
    try:
        by_period = read_usage(usage, terms)
        current = list(by_period.get(p.key, [])) + list(by_period.get(None, []))
        other = sorted(k for k in by_period if k not in (None, p.key))
        earlier = [str(k) for k in other if k < p.key]
        later = [str(k) for k in other if k > p.key]
        if earlier:
            print(
                f"note: {usage}: usage for earlier periods ignored: {', '.join(earlier)} (usage for an "
                "already-invoiced period is billed as a delta with --late-usage)",
                file=sys.stderr,
            )
        if later:
            print(
                f"note: {usage}: usage for later periods ignored: {', '.join(later)} (it is billed when that "
                "period is rated)",
                file=sys.stderr,
            )
        late: list[LateUsage] = []
        if late_usage is not None:
            for k, aggs in sorted(read_usage(late_usage, terms).items(), key=lambda kv: kv[0] or ""):
                if k is None:
                    raise CliError(f"{late_usage}: late usage CSV needs a period column")
                late.append(LateUsage(period=k, usage=aggs))
        entries = read_time(time) if time else []
        inside = [e for e in entries if p.first_day <= e.work_date <= p.last_day]
        if len(inside) != len(entries):
            print(f"note: {time}: {len(entries) - len(inside)} time entries outside {p} ignored", file=sys.stderr)
        inputs = RatingInputs(
            usage=current,
            time_entries=inside,
            milestones=read_milestones(milestones) if milestones else [],
            late_usage=late,
            terminated_on=date.fromisoformat(terminated_on) if terminated_on else None,
        )
        carried = read_state(state) if state else None
        draft, new_state = billing.rate(terms, inputs, carried, p)
    except CliError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except billing.RatingError as exc:
        _fail(console, "cannot rate", exc.problems)
        return
    if format is Format.json:
        out = billing.to_builtins(draft)
        out["state"] = billing.to_builtins(new_state)
        _emit_json(out)
    else:
        render_invoice(console, draft, trace)


@app.command("simulate")
def simulate_cmd(
    contract: ContractOpt,
    proposed: Annotated[
        Path,
        typer.Option("--proposed", help="Proposed terms version (or whole contract).", exists=True, dir_okay=False),
    ],
    usage: Annotated[
        list[Path],
        typer.Option("--usage", help="Usage file(s) covering the simulated periods.", exists=True, dir_okay=False),
    ],
    period: Annotated[
        list[str] | None,
        typer.Option("--period", help="Period(s) to simulate; default: every period found in the usage."),
    ] = None,
    time: Annotated[Path | None, typer.Option("--time", exists=True, dir_okay=False)] = None,
    milestones: Annotated[Path | None, typer.Option("--milestones", exists=True, dir_okay=False)] = None,
    state: Annotated[Path | None, typer.Option("--state", exists=True, dir_okay=False)] = None,
    threshold: Annotated[str, typer.Option("--threshold", help="Flag increases of at least this percent.")] = "10",
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Bill-shock report: rate past periods under the current and the proposed terms, per site."""
    console = Console()
    terms = _load_contract(contract, console)
    try:
        tree = parse_document(proposed.read_bytes())
        alt: ContractVersion | ContractTerms
        if isinstance(tree, dict) and "versions" in tree:
            alt = _load_contract(proposed, console)
        else:
            version, problems = convert_document(tree, ContractVersion)
            if version is None:
                _fail(console, f"{proposed}: {len(problems)} problem(s)", problems)
                return
            alt = version
        inputs: dict[str, RatingInputs] = {}
        usage_by: dict[str, list[UsageAggregate]] = {}
        for f in usage:
            for k, aggs in read_usage(f, terms).items():
                if k is None:
                    if not period or len(period) != 1:
                        raise CliError(f"{f}: CSV without a period column needs exactly one --period")
                    k = period[0]
                usage_by.setdefault(k, []).extend(aggs)
        entries = read_time(time) if time else []
        accepted = read_milestones(milestones) if milestones else []
        keys = sorted(period) if period else sorted(usage_by)
        for k in keys:
            _period(k)
            inputs[k] = RatingInputs(
                usage=usage_by.get(k, []),
                time_entries=[e for e in entries if Period.of_date(e.work_date).key == k],
                milestones=[m for m in accepted if Period.of_date(m.accepted_on).key == k],
            )
        report = simulate(terms, alt, inputs, read_state(state) if state else None, keys, Decimal(threshold))
    except CliError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except (billing.InvalidTerms, billing.RatingError) as exc:
        _fail(console, "cannot simulate", exc.problems)
        return
    if format is Format.json:
        _emit_json(report)
    else:
        render_shock(console, report)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Contract terms file (YAML or JSON).", exists=True, dir_okay=False)],
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """List every problem in a contract file (exit status 1 when there are any)."""
    console = Console()
    problems = billing.validate_terms(file)
    warnings = [] if problems else billing.contract_warnings(billing.load_terms(file))
    if format is Format.json:
        _emit_json({"file": str(file), "valid": not problems, "problems": problems, "warnings": warnings})
        if problems:
            raise typer.Exit(1)
        return
    if problems:
        _fail(console, f"{file}: {len(problems)} problem(s)", problems)
    terms = billing.load_terms(file)
    console.print(
        f"[green]valid[/green]: {file} — contract {terms.contract_id}, {terms.currency}, "
        f"{terms.timezone}, {len(terms.versions)} version(s) from {terms.versions[0].effective_from}"
    )
    for w in warnings:
        console.print(f"[yellow]warning[/yellow] {escape(w.path)}: {escape(w.message)}")


@app.command()
def schema(
    write: Annotated[bool, typer.Option("--write", help="Rewrite the committed schema files in billing/.")] = False,
    name: Annotated[str, typer.Option("--name", help="Which schema to print.")] = "contract.schema.json",
) -> None:
    """Print (or --write) the JSON Schemas generated from the billing types."""
    if write:
        root = Path(billing.__file__).parent
        for fname in schema_mod.SCHEMAS:
            (root / fname).write_bytes(schema_mod.render(fname))
            print(f"wrote {root / fname}")
        return
    if name not in schema_mod.SCHEMAS:
        raise typer.BadParameter(f"one of {', '.join(schema_mod.SCHEMAS)}")
    sys.stdout.write(schema_mod.render(name).decode())
