"""``agencyflow plan``: solve a capacity-planning JSON instance and print a readable summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scheduling import (
    InstanceError,
    Plan,
    Progress,
    SolveOptions,
    check_plan,
    load_instance,
    solve,
)

app = typer.Typer(help="Capacity planning (CP-SAT).")


def _money(value: float) -> str:
    return f"{value:,.0f}"


def write_heatmap(plan: Plan, path: Path) -> None:
    """Utilization heatmap (people × weeks, allocated / capacity) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plan.utilization
    weeks = len(rows[0].weeks) if rows else 0
    data = [
        [pw.allocated_hours / pw.capacity_hours if pw.capacity_hours > 0 else float("nan") for pw in row.weeks]
        for row in rows
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * weeks + 3), max(3.0, 0.22 * len(rows) + 1.5)))
    image = ax.imshow(data, aspect="auto", cmap="YlOrRd", vmin=0.0, vmax=1.2, interpolation="nearest")
    ax.set_xlabel("week")
    ax.set_ylabel("person")
    ax.set_title(f"Utilization (objective {_money(plan.objective)}, gap {plan.gap:.2%})")
    if len(rows) <= 60:
        ax.set_yticks(range(len(rows)), [r.person_id for r in rows], fontsize=7)
    ax.set_xticks(range(weeks), [str(w) for w in range(weeks)], fontsize=7)
    fig.colorbar(image, ax=ax, label="allocated / capacity")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(console: Console, plan: Plan, *, max_rows: int = 40) -> None:
    status = Table(title="Solve", show_header=False)
    status.add_row("status", f"{plan.status} ({plan.stop_reason})")
    status.add_row("objective", _money(plan.objective))
    status.add_row("bound", f"{_money(plan.bound)} ({plan.stats.bound_source})")
    status.add_row("gap", f"{plan.gap:.2%}")
    status.add_row("greedy objective", _money(plan.stats.greedy_objective))
    first = plan.stats.first_plan_seconds
    status.add_row("first model plan", "-" if first is None else f"{first:.2f} s")
    status.add_row("wall time", f"{plan.stats.wall_seconds:.2f} s")
    status.add_row("mode", "decomposed" if plan.stats.decomposed else "single model")
    console.print(status)

    b = plan.breakdown
    objective = Table(title="Objective breakdown")
    for column in ("term", "amount", "detail"):
        objective.add_column(column, justify="right" if column == "amount" else "left")
    objective.add_row("revenue", _money(b.revenue), f"{b.staffed_hours:,.0f} h staffed (priority/probability weighted)")
    objective.add_row("- cost", _money(b.cost), "allocated hours × cost rate")
    objective.add_row("- churn", _money(b.churn), f"{b.churn_events} joins/leaves")
    objective.add_row(
        "- utilization", _money(b.utilization), f"{b.under_hours:,.0f} h under, {b.over_hours:,.0f} h over target"
    )
    objective.add_row("= objective", _money(b.objective), "")
    console.print(objective)

    people = Table(title="Utilization per person")
    for column in ("person", "allocated h", "capacity h", "utilization", "target"):
        people.add_column(column, justify="left" if column == "person" else "right")
    rows = sorted(plan.utilization, key=lambda u: u.utilization - u.target)
    for row in rows[:max_rows]:
        style = (
            "red" if row.utilization > row.target + 0.1 else ("yellow" if row.utilization < row.target - 0.2 else "")
        )
        people.add_row(
            row.person_id,
            f"{row.allocated_hours:,.0f}",
            f"{row.capacity_hours:,.0f}",
            f"{row.utilization:.0%}",
            f"{row.target:.0%}",
            style=style,
        )
    if len(rows) > max_rows:
        people.caption = f"{len(rows) - max_rows} more people (most under-target first)"
    console.print(people)

    if plan.unmet:
        unmet = Table(title=f"Unmet demand ({sum(u.unmet_hours for u in plan.unmet):,.0f} h)")
        for column in ("project", "week", "role", "unmet h", "reason", "detail"):
            unmet.add_column(column)
        for line in sorted(plan.unmet, key=lambda u: (-u.unmet_hours, u.week, u.demand_id))[:max_rows]:
            unmet.add_row(
                line.project_id,
                str(line.week),
                line.role or (line.skill or line.person_id or ""),
                f"{line.unmet_hours:g}",
                line.reason,
                line.detail,
            )
        reasons: dict[str, float] = {}
        for entry in plan.unmet:
            reasons[entry.reason] = reasons.get(entry.reason, 0.0) + entry.unmet_hours
        unmet.caption = "by reason: " + ", ".join(
            f"{r} {h:,.0f} h" for r, h in sorted(reasons.items(), key=lambda x: -x[1])
        )
        console.print(unmet)
    else:
        console.print("[green]All demand is staffed.[/green]")

    if plan.pin_conflicts:
        pins = Table(title="Pins that cannot hold (solved without them)", style="red")
        for column in ("person", "project", "week", "reason"):
            pins.add_column(column)
        for c in plan.pin_conflicts:
            pins.add_row(c.person_id, c.project_id, str(c.week), c.reason)
        console.print(pins)


@app.command("plan")
def plan(
    input: Annotated[Path, typer.Option("--input", "-i", help="JSON instance (see docs/capacity.md).")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit in seconds.")] = 30.0,
    heatmap: Annotated[Path | None, typer.Option("--heatmap", help="Write a utilization heatmap PNG here.")] = None,
    gap: Annotated[float, typer.Option("--gap", help="Stop at this relative gap (0.01 = 1%).")] = 0.0,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the plan as JSON here.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="CP-SAT workers.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    rows: Annotated[int, typer.Option("--rows", help="Rows per table.")] = 40,
) -> None:
    """Solve a capacity-planning instance and print utilization, unmet demand and the objective."""
    import msgspec

    console = Console()
    try:
        instance = load_instance(input.read_bytes())
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        console.print(f"[red]Cannot read {input}: {exc}[/red]")
        raise typer.Exit(2) from exc

    def report(p: Progress) -> None:
        if quiet or p.message == "heartbeat":
            return
        best = "-" if p.best_objective is None else _money(p.best_objective)
        gap_text = "-" if p.gap is None else f"{p.gap:.2%}"
        console.print(f"[dim]{p.elapsed_s:7.2f}s {p.phase:<12} best {best:>14} gap {gap_text:>7}[/dim]")

    options = SolveOptions(time_limit_s=time_limit, relative_gap_limit=gap, num_workers=workers)
    try:
        result = solve(instance, options, report)
    except InstanceError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    print_summary(console, result, max_rows=rows)
    check = check_plan(instance, result)
    if check.ok:
        console.print("[green]Plan checker: all rules hold.[/green]")
    else:
        console.print(f"[red]Plan checker found {len(check.violations)} violation(s):[/red]")
        for v in check.violations[:20]:
            console.print(f"  [red]{v.rule}[/red]: {v.message}")
    if output is not None:
        output.write_bytes(msgspec.json.format(msgspec.json.encode(result), indent=1))
        console.print(f"plan written to {output}")
    if heatmap is not None:
        write_heatmap(result, heatmap)
        console.print(f"heatmap written to {heatmap}")
    if not check.ok:
        raise typer.Exit(1)
