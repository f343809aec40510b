"""What every care model shares: ramp-up, double running, fixed costs, a shared care record,
and small helpers that change the full-effect layer of FlowParams for the people reached.

Every helper here writes only to layer FULL (index 1); layer BASE (today's services) is never
touched, so an arm whose effects are neutral lowers to the status quo's flow.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field

from models.base import Drawn, ModelParams
from sim.config import PAYERS, RISK_TIERS, Scenario, Uncertain
from sim.flow import FULL, FixedCost, FlowParams, ramp_table
from sim.population import HOME, Population

Payer = Literal[PAYERS]  # type: ignore[valid-type]
Gbp = Annotated[float, Field(ge=0.0)]
People = Annotated[int, Field(ge=0)]


class CommonParams(ModelParams):
    """Parameters every care model has: implementation, transition costs and the care record."""

    ramp_up_months: Uncertain = Field(
        12.0, description="Months from the contract's start to full effect (months).")
    ramp_shape: Literal["linear", "step"] = Field(
        "linear", description="'linear': effect rises evenly over the ramp-up; 'step': none, then all.")
    payer: Payer = Field("pooled", description="Who pays the model's fixed team or hub costs.")
    double_running_gbp_per_year: Gbp = Field(
        0.0, description="Cost of running old and new services side by side (GBP a year).")
    double_running_years: Annotated[int, Field(ge=0, le=30)] = Field(
        0, description="First contract years that carry the double-running cost (years).")
    shared_care_record_assessment_multiplier: Uncertain = Field(
        1.0, description="Discharge assessment delays times this with a shared care record (1 = none).")

    # Drawn once per replication for every arm that has them (common random numbers).
    shared: ClassVar[frozenset[str]] = frozenset({"ramp_up_months", "shared_care_record_assessment_multiplier"})
    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "ramp_up_months": (0.0, 120.0),
        "shared_care_record_assessment_multiplier": (0.1, 1.0),
    }


def apply_common(flow: FlowParams, scenario: Scenario, p: Drawn) -> None:
    """Ramp-up, the shared care record and double running, for any care model."""
    flow.ramp = ramp_table(flow.n_years, flow.warm_up_years, p.ramp_up_months, p.ramp_shape)
    flow.assess_mean[FULL] *= p.shared_care_record_assessment_multiplier
    years = np.zeros(flow.n_years)
    first = flow.warm_up_years
    years[first:first + int(p.double_running_years)] = p.double_running_gbp_per_year
    add_fixed_cost(flow, "double running", p.payer, years)


def contract_years(flow: FlowParams, gbp_per_year: float) -> np.ndarray:
    """GBP per simulated year: nothing in warm-up, *gbp_per_year* in each contract year."""
    years = np.full(flow.n_years, float(gbp_per_year))
    years[:flow.warm_up_years] = 0.0
    return years


def ramp_by_year(flow: FlowParams) -> np.ndarray:
    """Mean share of full effect in force in each simulated year."""
    months = flow.ramp[: flow.n_years * 12]
    return months.reshape(flow.n_years, 12).mean(axis=1)


def add_fixed_cost(flow: FlowParams, line: str, payer: str, gbp_per_year: np.ndarray) -> None:
    """Add a fixed cost line; a line that is zero in every year is left out."""
    gbp_per_year = np.asarray(gbp_per_year, dtype=float)
    if np.any(gbp_per_year != 0.0):
        flow.fixed_costs.append(FixedCost(line, payer, gbp_per_year))


def toward_neutral(multiplier: float, strength: float) -> float:
    """A multiplier with only *strength* (0..1) of its effect: 1 + (m - 1) * strength."""
    return 1.0 + (multiplier - 1.0) * strength


def unknown_crisis_types(scenario: Scenario, field: str, names: list[str]) -> list[tuple[str, str]]:
    """A problem for each name in *names* that is not a crisis type of the place."""
    from sim.config import crisis_type_names

    known = crisis_type_names(scenario)
    return [(field, f"unknown crisis type {name!r}; this place has {', '.join(known)}")
            for name in names if name not in known]


def crisis_type(flow: FlowParams, name: str) -> int:
    """Index of the crisis type *name*, with an error that lists the known types."""
    if name not in flow.crisis_types:
        raise ValueError(f"unknown crisis type {name!r}; this place has {', '.join(flow.crisis_types)}")
    return flow.crisis_types.index(name)


def in_group(flow: FlowParams, bit: int) -> np.ndarray:
    """Cohorts whose care-model group has *bit* set."""
    return (flow.cohort_group >> np.int64(bit)) & 1 == 1


def scale_divert(flow: FlowParams, cohorts: np.ndarray, k: int,
                 multiplier: float | np.ndarray) -> None:
    """Raise the chance that crises of type *k* in *cohorts* are diverted (capped at 1).

    Only crisis types with a community service in the place (flow.diversion) can be diverted;
    for the others the chance stays zero.
    """
    layer = flow.divert_prob[FULL]
    layer[cohorts, k] = np.minimum(1.0, layer[cohorts, k] * multiplier)


def add_diversion_places(flow: FlowParams, type_indices: list[int], places: int) -> list[int]:
    """Add *places* in each contract year to every service that diverts these crisis types.

    The engines route a crisis type to one service for both layers, so a care model's urgent
    care places extend the place's own service rather than open a separate pool. Returns the
    pools extended.
    """
    pools = sorted({int(pool) for k in type_indices for pool in np.unique(flow.divert_pool[:, k])
                    if pool >= 0})
    for pool in pools:
        flow.capacity[pool, flow.warm_up_years:] += int(places)
    return pools


def enrol_highest_risk(population: Population, eligible: np.ndarray, places: int) -> np.ndarray:
    """People enrolled on a caseload of *places*: the eligible highest risk first.

    Ties go to the older age band, then to the lower person number (a fixed rule, so every
    arm and replication enrols the same people). The rest of the eligible are the waiting list.
    """
    chosen = np.zeros(population.size, dtype=bool)
    candidates = np.flatnonzero(eligible)
    if places <= 0 or candidates.size == 0:
        return chosen
    if places >= candidates.size:
        chosen[candidates] = True
        return chosen
    # One number per candidate that orders them by that rule (no two are equal): the places
    # lowest are then found without sorting everyone.
    rank = (population.risk[candidates].astype(np.int64) * len(population.age_band_names)
            + population.age_band[candidates])
    order = -rank * population.size + candidates
    chosen[candidates[np.argpartition(order, places - 1)[:places]]] = True
    return chosen


def at_home(population: Population) -> np.ndarray:
    """People living in their own home at the start."""
    return population.residence == HOME


def in_risk_tiers(population: Population, tiers: tuple[int, ...]) -> np.ndarray:
    """People whose risk tier is one of *tiers* (a table lookup: `np.isin` sorts)."""
    wanted = np.zeros(len(RISK_TIERS), dtype=bool)
    wanted[list(tiers)] = True
    return wanted[population.risk]


__all__ = [
    "CommonParams", "apply_common", "contract_years", "ramp_by_year", "add_fixed_cost",
    "toward_neutral", "crisis_type", "in_group", "scale_divert", "add_diversion_places",
    "enrol_highest_risk", "at_home", "in_risk_tiers", "Gbp", "People", "Payer",
]
