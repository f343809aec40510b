"""Calibration: the status quo of the default place against published figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from sim.config import Scenario
from sim.experiment import run_experiment
from sim.summary import interval

TARGETS = Path(__file__).with_name("targets.yaml")


@dataclass(frozen=True)
class Target:
    measure: str
    value: float
    tolerance: float
    source: str
    detail: str = ""
    absolute: bool = False

    @property
    def low(self) -> float:
        return self.value - self.tolerance if self.absolute else self.value * (1 - self.tolerance)

    @property
    def high(self) -> float:
        return self.value + self.tolerance if self.absolute else self.value * (1 + self.tolerance)


def load_targets(path: Path = TARGETS) -> list[Target]:
    """The calibration targets (value, tolerance, source for each)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Target(**item) for item in data["targets"]]


def calibrate(scenario: Scenario, replications: int = 4, workers: int | None = None,
              targets: list[Target] | None = None) -> tuple[pd.DataFrame, float]:
    """Run the status quo and compare each target: a table and the mean absolute % error."""
    targets = targets or load_targets()
    comparator = next((a.name for a in scenario.arms if a.kind == "status_quo"), scenario.arms[0].name)
    result = run_experiment(scenario, replications=replications, workers=workers, arms=[comparator])
    tidy = result.tidy[result.tidy["year"] == 0]
    rows = []
    for t in targets:
        values = tidy[(tidy["measure"] == t.measure) & (tidy["detail"] == t.detail)]["value"]
        mean, lo, hi = interval(values)
        rows.append({"measure": t.measure + (f" ({t.detail})" if t.detail else ""), "simulated": mean,
                     "low_95": lo, "high_95": hi, "target": t.value, "accepted_low": t.low,
                     "accepted_high": t.high, "error_pct": (mean - t.value) / t.value * 100,
                     "passed": bool(t.low <= mean <= t.high), "source": t.source})
    table = pd.DataFrame(rows)
    return table, float(table["error_pct"].abs().mean())
