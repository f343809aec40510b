"""Community-led neighbourhood teams: one multi-agency team around each area forum.

With voluntary and community partners the teams offer social prescribing (fewer crises for
low- and moderate-risk people at home) and carer support (fewer breakdowns of care at home),
and a faster local response that raises the chance frailty and care-breakdown crises are
handled in the community. They leave acute length of stay alone.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field

from models.base import CareModel, Drawn
from models.common import (
    CommonParams,
    Gbp,
    add_diversion_places,
    add_fixed_cost,
    apply_common,
    contract_years,
    crisis_type,
    scale_divert,
    unknown_crisis_types,
)
from models.registry import register
from sim.config import Scenario, Triangular, Uncertain, Uniform
from sim.flow import FULL, FlowParams
from sim.population import HOME, Population

SOCIAL_PRESCRIBING_RISKS = (0, 1)  # low, moderate
CARE_BREAKDOWN = "care_breakdown"


class NeighbourhoodTeamsParams(CommonParams):
    """Social prescribing, carer support, local response, and costs per team."""

    social_prescribing_crisis_multiplier: Uncertain = Field(
        Triangular(dist="triangular", low=0.92, mode=1.0, high=1.03),
        description="Crisis rate of low- and moderate-risk people at home, relative.")
    carer_support_multiplier: Uncertain = Field(
        Triangular(dist="triangular", low=0.7, mode=0.9, high=1.0),
        description="Rate of care-at-home breakdowns of people at home, relative.")
    response_crisis_types: list[str] = Field(
        default_factory=lambda: ["fall_frailty", CARE_BREAKDOWN],
        description="Crisis types the local response can take.")
    response_diversion_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=1.0, high=1.5),
        description="Chance those crises are diverted, relative (capped at 1).")
    response_places_per_team: Annotated[float, Field(ge=0.0)] = Field(
        1.0, description="Places each team adds to the place's service for those crises "
        "(places; the total over all teams is rounded).")
    team_gbp_per_year: Gbp = Field(250_000.0, description="One neighbourhood team (GBP a year).")
    voluntary_sector_gbp_per_team_per_year: Gbp = Field(
        50_000.0, description="Grants to voluntary and community partners per team (GBP a year).")

    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        **CommonParams.bounds,
        "social_prescribing_crisis_multiplier": (0.05, 2.0),
        "carer_support_multiplier": (0.05, 2.0),
        "response_diversion_multiplier": (0.0, 10.0),
    }


@register
class NeighbourhoodTeams(CareModel):
    kind = "neighbourhood_teams"
    title = "Community-led neighbourhood teams"
    Params = NeighbourhoodTeamsParams

    def check_scenario(self, scenario: Scenario, params) -> list[tuple[str, str]]:
        return unknown_crisis_types(scenario, "response_crisis_types", params.response_crisis_types)

    def apply(self, flow: FlowParams, population: Population, scenario: Scenario, p: Drawn) -> None:
        apply_common(flow, scenario, p)
        n_teams = int(np.count_nonzero(np.bincount(population.forum)))
        home = flow.cohort_residence == HOME

        rate = flow.crisis_rate[FULL]
        rate[home & np.isin(flow.cohort_risk, SOCIAL_PRESCRIBING_RISKS)] *= p.social_prescribing_crisis_multiplier
        rate[home, crisis_type(flow, CARE_BREAKDOWN)] *= p.carer_support_multiplier

        types = [crisis_type(flow, name) for name in p.response_crisis_types]
        for k in types:
            scale_divert(flow, home, k, p.response_diversion_multiplier)
        add_diversion_places(flow, types, round(n_teams * p.response_places_per_team))

        add_fixed_cost(flow, "neighbourhood teams", p.payer, contract_years(
            flow, n_teams * (p.team_gbp_per_year + p.voluntary_sector_gbp_per_team_per_year)))
