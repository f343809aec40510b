"""What every care model is: a typed parameter schema and one method that changes the flow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from sim.config import Scenario, Uncertain, check_bounds
from sim.flow import FlowParams
from sim.population import Population
from sim.uncertainty import draw


class ModelParams(BaseModel):
    """Base of a care model's parameters: frozen, unknown keys refused.

    Declare bounds of uncertain parameters in ``bounds`` (name -> (low, high)) so that every
    value a distribution can take is checked on load and normal draws are truncated there.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}

    def check(self) -> list[tuple[str, str]]:
        problems = []
        for name, (low, high) in self.bounds.items():
            try:
                check_bounds(getattr(self, name), low, high, name)
            except ValueError as exc:
                problems.append((name, str(exc)))
        return problems


@dataclass(frozen=True)
class Drawn:
    """A care model's parameters with every uncertain one replaced by this replication's draw."""

    params: BaseModel
    values: dict[str, float]

    def __getattr__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return getattr(self.params, name)


def draw_params(params: BaseModel, prefix: str, seed: int, replication: int | None) -> Drawn:
    """Draw each uncertain field; *replication* None gives central values (deterministic runs).

    A plain number is fixed and kept as it is. A distribution is drawn once per replication,
    keyed on ``prefix + field name`` (prefix is the model kind), or on ``shared.`` + field name
    for the fields a model lists in ``shared`` (those common to all care models), so a shared
    parameter takes the same draw in every arm that has it.
    """
    from sim.config import central

    bounds = getattr(params, "bounds", {})
    shared: frozenset[str] = getattr(params, "shared", frozenset())
    values: dict[str, float] = {}
    for name in type(params).model_fields:
        value = getattr(params, name)
        if not _is_distribution(value):
            continue
        low, high = bounds.get(name, (-math.inf, math.inf))
        if replication is None:
            values[name] = central(value)
        else:
            key = f"shared.{name}" if name in shared else f"{prefix}.{name}"
            values[name] = draw(key, value, seed, replication, low, high)
    return Drawn(params, values)


def _is_distribution(value: Any) -> bool:
    return isinstance(getattr(value, "dist", None), str)


class CareModel:
    """A care model. Subclasses set `kind`, `title`, `Params`, and override `apply`."""

    kind: ClassVar[str]
    title: ClassVar[str]
    Params: ClassVar[type[ModelParams]]

    def check_scenario(self, scenario: Scenario, params: BaseModel) -> list[tuple[str, str]]:
        """Problems with *params* that only the place can show (parameter name, message)."""
        return []

    def groups(self, scenario: Scenario, population: Population, p: Drawn) -> np.ndarray | None:
        """Care-model group bits of each person (who is enrolled, reached or found), or None."""
        return None

    def apply(self, flow: FlowParams, population: Population, scenario: Scenario, p: Drawn) -> None:
        """Change the full-effect layer of *flow* (index 1) and add services and fixed costs."""


__all__ = ["CareModel", "ModelParams", "Drawn", "draw_params", "Uncertain"]
