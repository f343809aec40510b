"""Lower one arm of a scenario (a care model and its parameters) into FlowParams."""

from __future__ import annotations

import numpy as np

from models import registry
from models.base import Drawn, draw_params
from sim.config import MAX_MULTIPLIER, Arm, Scenario
from sim.flow import FlowParams, lower_place
from sim.population import Population
from sim.uncertainty import draw


def place_draws(scenario: Scenario, seed: int, replication: int | None) -> dict[str, float]:
    """This replication's draws of the place's uncertain parameters (central if None)."""
    from sim.flow import place_values

    if replication is None:
        return place_values(scenario, {})
    eol, readmit = scenario.flow.end_of_life, scenario.flow.readmission
    bounded = {
        "flow.end_of_life.found_crisis_multiplier": (eol.found_crisis_multiplier, 0.0, MAX_MULTIPLIER),
        "flow.end_of_life.found_terminal_admission_death": (eol.found_terminal_admission_death, 0.0, 1.0),
        "flow.readmission.crisis_multiplier": (readmit.crisis_multiplier, 0.0, MAX_MULTIPLIER),
    }
    return {name: draw(name, value, seed, replication, low, high)
            for name, (value, low, high) in bounded.items()}


def drawn_params(arm: Arm, seed: int, replication: int | None) -> Drawn:
    """The arm's care-model parameters with this replication's draws."""
    params = registry.parse_params(arm.kind, arm.params)
    return draw_params(params, arm.kind, seed, replication)


def lower_arm(scenario: Scenario, population: Population, arm: Arm, seed: int,
              replication: int | None) -> FlowParams:
    """FlowParams of *arm*: the place lowered, then changed by the arm's care model.

    *replication* None uses central parameter values (no parameter uncertainty).
    """
    model = registry.get(arm.kind)
    drawn = drawn_params(arm, seed, replication)
    groups = model.groups(scenario, population, drawn)
    if groups is not None:
        groups = np.asarray(groups, dtype=np.int64)
    flow = lower_place(scenario, population, groups, place_draws(scenario, seed, replication))
    model.apply(flow, population, scenario, drawn)
    return flow
