"""The report as pictures: the funnel, and recovery per stage split by what brought customers back."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from journal.report import INTERVENTIONS, RecoveryReport

COLOURS = {
    "nudge_1": "#9ecae1",
    "nudge_2": "#6baed6",
    "nudge_3": "#3182bd",
    "sms_store_offer": "#fd8d3c",
    "human_task": "#31a354",
    "none": "#bdbdbd",
}


def write_chart(report: RecoveryReport, path: Path) -> Path:
    """PNG or SVG by the file's extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = _figure(report)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def chart_png(report: RecoveryReport) -> bytes:
    buffer = io.BytesIO()
    figure = _figure(report)
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _figure(report: RecoveryReport) -> Figure:
    figure, (funnel_axis, recovery_axis) = plt.subplots(1, 2, figsize=(13, 5.5))
    stages = [step.stage.value for step in report.funnel]
    reached = [step.reached for step in report.funnel]
    bars = funnel_axis.barh(stages[::-1], reached[::-1], color="#3182bd")
    for bar, step in zip(bars, report.funnel[::-1], strict=False):
        share = f"{step.share_of_started:.0%}" if step.share_of_started is not None else ""
        funnel_axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {step.reached} ({share})", va="center")
    funnel_axis.set_title(f"Funnel: {report.journeys} journeys, completion {report.completion_rate or 0:.0%}")
    funnel_axis.set_xlabel("customers reaching the stage")
    funnel_axis.margins(x=0.25)

    rows = report.recovery[::-1]  # earliest stage on top, as in the funnel
    labels = [r.stage.value for r in rows]
    left = [0.0] * len(labels)
    for key in (*INTERVENTIONS, "none"):
        shares = [(r.by_intervention.get(key, 0) / r.dropped) if r.dropped else 0.0 for r in rows]
        recovery_axis.barh(labels, shares, left=left, color=COLOURS[key], label=key.replace("_", " "))
        left = [a + b for a, b in zip(left, shares, strict=False)]
    for y, r in enumerate(rows):
        recovery_axis.text(left[y], y, f" {r.recovered}/{r.dropped}", va="center")
    recovery_axis.set_xlim(0, 1.15)
    recovery_axis.set_title("Recovery per drop-off stage (treated customers)")
    recovery_axis.set_xlabel("share of drop-offs who completed, by what came last")
    recovery_axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure
