"""The synthetic population: one row per person, generated from the place's marginals."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.config import RISK_TIERS, Scenario
from sim.jit import kernel
from sim.randomness import POPULATION, uniforms

# Draw numbers of each attribute in the POPULATION stream (conditions take 16 + index).
_AGE, _RISK, _CLUSTER, _FORUM, _DEPRIVATION, _RESIDENCE = 0, 1, 2, 3, 4, 5
_CONDITION = 16

HOME, CARE_HOME = 0, 1


@dataclass(frozen=True)
class Population:
    """People as structured arrays (one entry per person), plus the names behind the codes."""

    age_band: np.ndarray      # int8, index into age_band_names
    risk: np.ndarray          # int8, 0 low .. 3 very high
    conditions: np.ndarray    # uint8 bit mask, bit c = condition_names[c]
    cluster: np.ndarray       # int8, GP practice cluster
    forum: np.ndarray         # int8, area forum
    deprivation: np.ndarray   # int8, quintile 0 (most deprived) .. 4
    residence: np.ndarray     # int8, HOME or CARE_HOME
    age_band_names: tuple[str, ...]
    condition_names: tuple[str, ...]
    cluster_names: tuple[str, ...]
    forum_names: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.age_band.shape[0])

    @functools.cached_property
    def age_counts(self) -> np.ndarray:
        """Number of people in each age band (counted once; every arm's measures read it)."""
        return np.bincount(self.age_band, minlength=len(self.age_band_names))

    def has(self, condition: str) -> np.ndarray:
        """Boolean mask of people with *condition*."""
        bit = self.condition_names.index(condition)
        return (self.conditions >> bit) & 1 == 1

    def frame(self) -> pd.DataFrame:
        """The population as a table with readable labels."""
        data = {
            "age_band": pd.Categorical.from_codes(self.age_band, self.age_band_names),
            "risk": pd.Categorical.from_codes(self.risk, RISK_TIERS),
            "cluster": pd.Categorical.from_codes(self.cluster, self.cluster_names),
            "forum": pd.Categorical.from_codes(self.forum, self.forum_names),
            "deprivation_quintile": self.deprivation + 1,
            "residence": np.where(self.residence == CARE_HOME, "care home", "own home"),
        }
        for c, name in enumerate(self.condition_names):
            data[name] = (self.conditions >> c) & 1 == 1
        return pd.DataFrame(data)

    def summary(self, by: tuple[str, ...] = ("age_band", "risk")) -> pd.DataFrame:
        """People per stratum, with condition prevalence and care-home share."""
        frame = self.frame()
        grouped = frame.groupby(list(by), observed=True)
        out = grouped.size().rename("people").to_frame()
        for name in self.condition_names:
            out[f"{name}_%"] = (grouped[name].mean() * 100).round(1)
        out["care_home_%"] = (grouped["residence"].apply(lambda s: (s == "care home").mean()) * 100).round(1)
        return out


def _pick(u: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Category index for each uniform given the shares (one row, or one row per person).

    Shares sum to 1 only within the config's tolerance; the last category *with a share*
    takes the remainder, so that a category with no share (a forum outside a cluster) never
    gets anyone, however the shares round.
    """
    shares = np.asarray(shares, dtype=np.float64)
    if shares.ndim == 1:
        return _pick_by(u, shares[None, :], np.zeros(u.shape[0], dtype=np.int64))
    return _pick_by(u, shares, np.arange(u.shape[0], dtype=np.int64))


def _pick_by(u: np.ndarray, table: np.ndarray, group: np.ndarray) -> np.ndarray:
    """`_pick` with the shares of each person's group (row *group* of *table*)."""
    rows = np.asarray(table, dtype=np.float64)
    cumulative = np.cumsum(rows, axis=-1)
    n = rows.shape[-1]
    last = n - 1 - np.argmax(rows[:, ::-1] > 0.0, axis=-1)
    cumulative[np.arange(n)[None, :] >= last[:, None]] = np.inf
    out = np.empty(u.shape[0], dtype=np.int64)
    _count_reached(u, cumulative, np.asarray(group, dtype=np.int64), out)
    return out


@kernel
def _count_reached(u, cumulative, group, out):
    """out[i]: how many of its group's running sums u[i] reaches (np.searchsorted's side="right",
    as the sums never fall), in one pass with one value a person."""
    for i in range(u.shape[0]):
        row = cumulative[group[i]]
        k = 0
        for j in range(row.shape[0]):
            k += u[i] >= row[j]
        out[i] = k


def generate(scenario: Scenario, seed: int) -> Population:
    """Draw the population of *scenario* from its marginals; a pure function of the seed."""
    pop = scenario.population
    n = pop.size
    ids = np.arange(n, dtype=np.int64)
    seed64 = np.uint64(seed)

    age = _pick(uniforms(seed64, POPULATION, ids, _AGE), np.array([b.share for b in pop.age_bands]))
    risk_table = np.array([pop.risk_shares[b.name] for b in pop.age_bands])
    risk = _pick_by(uniforms(seed64, POPULATION, ids, _RISK), risk_table, age)

    conditions = np.zeros(n, dtype=np.uint8)
    for c, cond in enumerate(pop.conditions.values()):
        odds = np.array(cond.risk_tier_odds)
        # Keep each age band's prevalence while shifting it towards higher risk tiers.
        mean_odds = risk_table @ odds
        # The chance for each age band and risk tier, then each person's: the same numbers as
        # working it out person by person, in a tenth of the time.
        table = np.minimum(1.0, np.array(cond.prevalence)[:, None] * odds[None, :] / mean_odds[:, None])
        chance = table[age, risk]
        has = uniforms(seed64, POPULATION, ids, _CONDITION + c) < chance
        conditions |= (has.astype(np.uint8) << c)

    cluster = _pick(uniforms(seed64, POPULATION, ids, _CLUSTER), np.array([c.share for c in pop.clusters]))
    forum_names: list[str] = []
    for cl in pop.clusters:
        for name in cl.forums:
            if name not in forum_names:
                forum_names.append(name)
    forum_table = np.array([[cl.forums.get(f, 0.0) for f in forum_names] for cl in pop.clusters])
    forum = _pick_by(uniforms(seed64, POPULATION, ids, _FORUM), forum_table, cluster)
    deprivation_table = np.array([cl.deprivation_shares for cl in pop.clusters])
    deprivation = _pick_by(uniforms(seed64, POPULATION, ids, _DEPRIVATION), deprivation_table, cluster)
    care_home = uniforms(seed64, POPULATION, ids, _RESIDENCE) < np.array(pop.care_home_share)[age]

    return Population(
        age_band=age.astype(np.int8),
        risk=risk.astype(np.int8),
        conditions=conditions,
        cluster=cluster.astype(np.int8),
        forum=forum.astype(np.int8),
        deprivation=deprivation.astype(np.int8),
        residence=np.where(care_home, CARE_HOME, HOME).astype(np.int8),
        age_band_names=tuple(b.name for b in pop.age_bands),
        condition_names=tuple(pop.conditions),
        cluster_names=tuple(c.name for c in pop.clusters),
        forum_names=tuple(forum_names),
    )
