"""GP-led wellbeing hubs: hubs of 30,000-50,000 people built from GP practice clusters.

The number of hubs follows from the hub size. Each hub case-manages the high- and very-high-
risk people of its catchment who live at home, up to its caseload (very high risk first), and
runs urgent care and diagnostics beside the practices, which raises the chance that frailty
and acute-illness crises are handled in the community. The hub-size curve: reach (use of the
hub's urgent care) and continuity (the case-management effect) fall as hubs grow, while fixed
cost per head falls, because each hub's core cost is shared by more people.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field

from models.base import CareModel, Drawn
from models.common import (
    CommonParams,
    Gbp,
    People,
    add_diversion_places,
    add_fixed_cost,
    apply_common,
    at_home,
    contract_years,
    crisis_type,
    enrol_highest_risk,
    in_group,
    in_risk_tiers,
    ramp_by_year,
    scale_divert,
    toward_neutral,
    unknown_crisis_types,
)
from models.registry import register
from sim.config import Scenario, Triangular, Uncertain, Uniform
from sim.flow import FULL, FlowParams
from sim.population import Population

CASE_MANAGED = 0  # group bit
CASE_MANAGED_RISKS = (2, 3)  # high, very high
SMALLEST_HUB, LARGEST_HUB = 30_000, 50_000
CURVE_STEP = 10_000  # the size curve is given per 10,000 people above the smallest hub


class WellbeingHubsParams(CommonParams):
    """Hub size and its curve, case management, urgent care, and costs."""

    hub_size: Annotated[int, Field(ge=SMALLEST_HUB, le=LARGEST_HUB)] = Field(
        40_000, description="People per hub (30,000-50,000); hubs = population / hub size, rounded.")
    reach_loss_per_10k: Uncertain = Field(
        Uniform(dist="uniform", low=0.0, high=0.15),
        description="Share of the urgent-care effect lost per 10,000 people above 30,000 (0-1).")
    continuity_loss_per_10k: Uncertain = Field(
        Uniform(dist="uniform", low=0.0, high=0.2),
        description="Share of the case-management effect lost per 10,000 people above 30,000 (0-1).")
    caseload_per_hub: People = Field(
        500, description="High- and very-high-risk people each hub case-manages (people).")
    case_management_crisis_multiplier: Uncertain = Field(
        Triangular(dist="triangular", low=0.9, mode=1.0, high=1.05),
        description="Crisis rate of case-managed people, relative (evidence: little or no effect).")
    urgent_care_crisis_types: list[str] = Field(
        default_factory=lambda: ["fall_frailty", "acute_illness"],
        description="Crisis types the hubs' urgent care and diagnostics can take.")
    urgent_care_diversion_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=1.0, high=2.0),
        description="Chance those crises are diverted, relative (capped at 1).")
    urgent_care_places_per_hub: Annotated[float, Field(ge=0.0)] = Field(
        2.0, description="Urgent-care places each hub adds to the place's service for those crises "
        "(places; the total over all hubs is rounded).")
    hub_gbp_per_year: Gbp = Field(500_000.0, description="Core cost of one hub (GBP a year).")
    gbp_per_head_per_year: Gbp = Field(5.0, description="Cost per person served (GBP a year).")
    case_management_gbp_per_person_per_year: Gbp = Field(
        250.0, description="Cost per case-managed person (GBP a year).")

    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        **CommonParams.bounds,
        "reach_loss_per_10k": (0.0, 0.5),
        "continuity_loss_per_10k": (0.0, 0.5),
        "case_management_crisis_multiplier": (0.05, 2.0),
        "urgent_care_diversion_multiplier": (0.0, 10.0),
    }


def hub_count(population_size: int, hub_size: int) -> int:
    """Number of hubs: population over hub size, rounded, at least one."""
    return max(1, int(round(population_size / hub_size)))


def hub_of(population: Population, n_hubs: int) -> np.ndarray:
    """Hub of each person, built from GP practice clusters.

    With fewer hubs than clusters, whole clusters are merged (largest first, each into the hub
    with fewest people so far). With more, each cluster gets one hub and the extra hubs go to
    the cluster with most people per hub; a cluster with several hubs is split into equal
    parts by person number, standing in for its practice lists.
    """
    sizes = np.bincount(population.cluster, minlength=len(population.cluster_names))
    clusters = np.flatnonzero(sizes)
    if n_hubs <= clusters.size:
        people = np.zeros(n_hubs)
        assign = np.zeros(sizes.size, dtype=np.int64)
        for c in clusters[np.argsort(-sizes[clusters], kind="stable")]:
            h = int(np.argmin(people))
            assign[c] = h
            people[h] += sizes[c]
        return assign[population.cluster]
    per_cluster = np.zeros(sizes.size, dtype=np.int64)
    per_cluster[clusters] = 1
    for _ in range(n_hubs - clusters.size):
        per_cluster[np.argmax(np.where(per_cluster > 0, sizes / np.maximum(per_cluster, 1), -1))] += 1
    hub = np.empty(population.size, dtype=np.int64)
    first = 0
    for c in clusters:
        members = np.flatnonzero(population.cluster == c)
        hub[members] = first + (np.arange(members.size) * per_cluster[c]) // members.size
        first += per_cluster[c]
    return hub


def size_factor(loss_per_10k: float, hub_size: int) -> float:
    """Share of an effect kept at *hub_size*: 1 at 30,000, less by *loss_per_10k* per 10,000."""
    return float(np.clip(1.0 - loss_per_10k * (hub_size - SMALLEST_HUB) / CURVE_STEP, 0.0, 1.0))


@register
class WellbeingHubs(CareModel):
    kind = "wellbeing_hubs"
    title = "GP-led wellbeing hubs"
    Params = WellbeingHubsParams

    def check_scenario(self, scenario: Scenario, params) -> list[tuple[str, str]]:
        return unknown_crisis_types(scenario, "urgent_care_crisis_types", params.urgent_care_crisis_types)

    def groups(self, scenario: Scenario, population: Population, p: Drawn) -> np.ndarray:
        """Bit 0 set for people case-managed by their hub."""
        hubs = hub_of(population, hub_count(population.size, p.hub_size))
        eligible = in_risk_tiers(population, CASE_MANAGED_RISKS) & at_home(population)
        managed = np.zeros(population.size, dtype=bool)
        for h in np.flatnonzero(np.bincount(hubs)):  # the hubs with people, in order
            managed |= enrol_highest_risk(population, eligible & (hubs == h), int(p.caseload_per_hub))
        return managed.astype(np.int64) << np.int64(CASE_MANAGED)

    def apply(self, flow: FlowParams, population: Population, scenario: Scenario, p: Drawn) -> None:
        apply_common(flow, scenario, p)
        n_hubs = hub_count(population.size, p.hub_size)
        reach = size_factor(p.reach_loss_per_10k, p.hub_size)
        continuity = size_factor(p.continuity_loss_per_10k, p.hub_size)

        managed = in_group(flow, CASE_MANAGED)
        flow.crisis_rate[FULL][managed] *= toward_neutral(p.case_management_crisis_multiplier, continuity)

        everyone = np.ones(flow.n_cohorts, dtype=bool)  # the hubs' catchments cover the place
        types = [crisis_type(flow, name) for name in p.urgent_care_crisis_types]
        for k in types:
            scale_divert(flow, everyone, k, toward_neutral(p.urgent_care_diversion_multiplier, reach))
        add_diversion_places(flow, types, round(n_hubs * p.urgent_care_places_per_hub))

        case_managed = int(np.bincount(flow.person_cohort, minlength=flow.n_cohorts)[managed].sum())
        add_fixed_cost(flow, "wellbeing hubs", p.payer, contract_years(
            flow, n_hubs * p.hub_gbp_per_year + population.size * p.gbp_per_head_per_year))
        add_fixed_cost(flow, "hub case management", p.payer, contract_years(
            flow, case_managed * p.case_management_gbp_per_person_per_year) * ramp_by_year(flow))
