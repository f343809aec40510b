"""Condition-based services: a specialist community team for each target condition.

Each team takes the highest-risk people with its condition onto a caseload of fixed size; the
others with the condition wait (not enrolled). Enrolled people have fewer exacerbations of that
condition, more of them handled in the community, and shorter stays for them through in-reach.
People on two or more teams' caseloads get less from each (fragmented care) and cost more
contacts.
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
    add_fixed_cost,
    apply_common,
    contract_years,
    crisis_type,
    enrol_highest_risk,
    in_group,
    ramp_by_year,
    scale_divert,
    toward_neutral,
)
from models.registry import register
from sim.config import Scenario, Triangular, Uncertain, Uniform
from sim.flow import FULL, FlowParams
from sim.population import Population


class ConditionBasedParams(CommonParams):
    """Teams, their caseloads, effects on enrolled people, and costs."""

    caseload_by_condition: dict[str, People] = Field(
        default_factory=lambda: {"diabetes": 1000, "dementia": 500, "heart_failure": 500},
        description="One team per condition named here, with its caseload (people).",
    )
    exacerbation_multiplier: Uncertain = Field(
        Triangular(dist="triangular", low=0.7, mode=0.9, high=1.05),
        description="Rate of the condition's exacerbations for enrolled people, relative.")
    diversion_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=1.0, high=1.5),
        description="Chance an enrolled person's exacerbation is diverted, relative (capped at 1).")
    length_of_stay_multiplier: Uncertain = Field(
        Uniform(dist="uniform", low=0.85, high=1.0),
        description="Clinical stay of an enrolled person's exacerbation admission, relative (in-reach).")
    fragmentation: Uncertain = Field(
        Uniform(dist="uniform", low=0.1, high=0.5),
        description="Share of each team's benefit lost for people on 2+ caseloads (0-1).")
    team_gbp_per_year: Gbp = Field(150_000.0, description="Fixed cost of one team (GBP a year).")
    contacts_per_person_per_year: Annotated[float, Field(ge=0.0)] = Field(
        8.0, description="Contacts per enrolled person per team (contacts a year).")
    gbp_per_contact: Gbp = Field(47.0, description="Cost of one contact (GBP).")
    multi_team_contact_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        1.25, description="Contacts per team for people on 2+ caseloads, relative (coordination).")

    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        **CommonParams.bounds,
        "exacerbation_multiplier": (0.05, 2.0),
        "diversion_multiplier": (0.0, 10.0),
        "length_of_stay_multiplier": (0.1, 2.0),
        "fragmentation": (0.0, 1.0),
    }


@register
class ConditionBased(CareModel):
    kind = "condition_based"
    title = "Condition-based services"
    Params = ConditionBasedParams

    def check_scenario(self, scenario: Scenario, params) -> list[tuple[str, str]]:
        known = list(scenario.population.conditions)
        return [("caseload_by_condition", f"no condition {name!r} in population.conditions; this place has "
                 f"{', '.join(known)}") for name in params.caseload_by_condition if name not in known]

    def groups(self, scenario: Scenario, population: Population, p: Drawn) -> np.ndarray:
        """Bit j set for people on the caseload of the j-th team in caseload_by_condition."""
        bits = np.zeros(population.size, dtype=np.int64)
        for j, (condition, caseload) in enumerate(p.caseload_by_condition.items()):
            if condition not in population.condition_names:
                raise ValueError(f"condition_based: no condition {condition!r} in population.conditions "
                                 f"({', '.join(population.condition_names)})")
            enrolled = enrol_highest_risk(population, population.has(condition), int(caseload))
            bits |= enrolled.astype(np.int64) << np.int64(j)
        return bits

    def apply(self, flow: FlowParams, population: Population, scenario: Scenario, p: Drawn) -> None:
        apply_common(flow, scenario, p)
        teams = list(p.caseload_by_condition)
        on_team = np.array([in_group(flow, j) for j in range(len(teams))])  # [teams, C]
        multi = on_team.sum(axis=0) >= 2
        strength = np.where(multi, 1.0 - p.fragmentation, 1.0)  # [C]
        for j, condition in enumerate(teams):
            k = crisis_type(flow, f"exacerbation_{condition}")
            cohorts = on_team[j]
            share = strength[cohorts]
            flow.crisis_rate[FULL][cohorts, k] *= toward_neutral(p.exacerbation_multiplier, share)
            flow.los_mean[FULL][cohorts, k] *= toward_neutral(p.length_of_stay_multiplier, share)
            scale_divert(flow, cohorts, k, toward_neutral(p.diversion_multiplier, share))

        people = np.bincount(flow.person_cohort, minlength=flow.n_cohorts)
        enrolments = (on_team * people).sum(axis=0)  # team places taken, by cohort
        contacts = p.contacts_per_person_per_year * (
            enrolments[~multi].sum() + p.multi_team_contact_multiplier * enrolments[multi].sum())
        # Teams are paid from the start; contacts grow as the caseload fills over the ramp-up.
        add_fixed_cost(flow, "condition teams", p.payer,
                       contract_years(flow, p.team_gbp_per_year * len(teams)))
        add_fixed_cost(flow, "condition team contacts", p.payer,
                       contract_years(flow, contacts * p.gbp_per_contact) * ramp_by_year(flow))


def caseloads(population: Population, params: ConditionBasedParams) -> dict[str, tuple[int, int]]:
    """Enrolled and waiting people for each team: condition -> (caseload filled, waiting list)."""
    out = {}
    for condition, caseload in params.caseload_by_condition.items():
        eligible = int(population.has(condition).sum())
        filled = min(int(caseload), eligible)
        out[condition] = (filled, eligible - filled)
    return out
