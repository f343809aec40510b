"""Function-based services: a discharge team, a prevention team and an end-of-life team.

- The discharge team shortens assessment delays and sends more people home on pathway 0.
- The prevention team takes moderate- and high-risk people living at home onto a caseload
  (high risk first) and lowers their crisis rate.
- The end-of-life team finds more people in their last months of life and, for those found,
  lowers crises and the chance that an admission ends in death in hospital.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from models.base import CareModel, Drawn
from models.common import (
    CommonParams,
    Gbp,
    People,
    add_fixed_cost,
    apply_common,
    at_home,
    contract_years,
    enrol_highest_risk,
    in_group,
    in_risk_tiers,
)
from models.registry import register
from sim.config import Scenario, Triangular, Uncertain, Uniform
from sim.flow import FULL, FlowParams
from sim.population import Population

PREVENTION = 0  # group bit: on the prevention team's caseload
PREVENTION_RISKS = (1, 2)  # moderate, high


class FunctionBasedParams(CommonParams):
    """The three teams' effects and costs."""

    discharge_assessment_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=0.5, high=0.9),
        description="Assessment delay before a supported discharge, relative.")
    discharge_home_shift: Uncertain = Field(
        Uniform(dist="uniform", low=0.0, high=0.15),
        description="Share of discharges to pathways 1-3 sent home on pathway 0 instead (0-1).")
    discharge_team_gbp_per_year: Gbp = Field(400_000.0, description="Discharge team (GBP a year).")

    prevention_caseload: People = Field(
        3000, description="Moderate- and high-risk people on the prevention caseload (people).")
    prevention_crisis_multiplier: Uncertain = Field(
        Triangular(dist="triangular", low=0.85, mode=0.97, high=1.03),
        description="Crisis rate of people on the prevention caseload, relative.")
    prevention_team_gbp_per_year: Gbp = Field(500_000.0, description="Prevention team (GBP a year).")

    end_of_life_found_share: Uncertain = Field(
        Uniform(dist="uniform", low=0.4, high=0.7),
        description="Share of people in their last months known to services with the team "
        "(0-1; never below the place's own share).")
    end_of_life_crisis_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=0.6, high=1.0),
        description="Crisis rate of found people in their last months, relative to today's found.")
    end_of_life_hospital_death_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=0.4, high=0.9),
        description="Chance a found person's end-of-life admission ends in death, relative.")
    end_of_life_team_gbp_per_year: Gbp = Field(300_000.0, description="End-of-life team (GBP a year).")

    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        **CommonParams.bounds,
        "discharge_assessment_multiplier": (0.05, 2.0),
        "discharge_home_shift": (0.0, 1.0),
        "prevention_crisis_multiplier": (0.05, 2.0),
        "end_of_life_found_share": (0.0, 1.0),
        "end_of_life_crisis_multiplier": (0.05, 2.0),
        "end_of_life_hospital_death_multiplier": (0.0, 1.0),
    }


@register
class FunctionBased(CareModel):
    kind = "function_based"
    title = "Function-based services"
    Params = FunctionBasedParams

    def groups(self, scenario: Scenario, population: Population, p: Drawn) -> np.ndarray:
        """Bit 0 set for people on the prevention caseload."""
        eligible = in_risk_tiers(population, PREVENTION_RISKS) & at_home(population)
        enrolled = enrol_highest_risk(population, eligible, int(p.prevention_caseload))
        return enrolled.astype(np.int64) << np.int64(PREVENTION)

    def apply(self, flow: FlowParams, population: Population, scenario: Scenario, p: Drawn) -> None:
        apply_common(flow, scenario, p)

        # Discharge team: everyone leaving an acute bed.
        flow.assess_mean[FULL] *= p.discharge_assessment_multiplier
        pathway = flow.pathway[FULL]
        moved = pathway[:, 1:] * p.discharge_home_shift
        pathway[:, 1:] -= moved
        pathway[:, 0] += moved.sum(axis=1)

        # Prevention team: its caseload only.
        flow.crisis_rate[FULL][in_group(flow, PREVENTION)] *= p.prevention_crisis_multiplier

        # End-of-life team: everyone in their last months of life.
        flow.eol_found[FULL] = np.maximum(flow.eol_found[FULL], p.end_of_life_found_share)
        flow.eol_found_multiplier[FULL] *= p.end_of_life_crisis_multiplier
        flow.terminal_death_found[FULL] *= p.end_of_life_hospital_death_multiplier

        for line, gbp in (("discharge team", p.discharge_team_gbp_per_year),
                          ("prevention team", p.prevention_team_gbp_per_year),
                          ("end-of-life team", p.end_of_life_team_gbp_per_year)):
            add_fixed_cost(flow, line, p.payer, contract_years(flow, gbp))
