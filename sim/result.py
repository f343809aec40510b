"""What an engine returns: counters per year, pool use per year, daily series, and optionally
one row per crisis (the episode log). Both engines fill the same arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Yearly counters, in column order of RunResult.counters.
COUNTERS = (
    "crises",
    "diverted",
    "ed_attendances",
    "admissions",
    "readmissions_30d",
    "discharges_alive",
    "spells_ended",
    "los_days_sum",
    "excess_bed_days",
    "trolley_waits",
    "trolley_wait_days",
    "escalation_admissions",
    "delayed_days",
    "delayed_spells",
    "care_home_admissions",
    "care_home_admissions_65plus",
    "reablement_starts",
    "home91_checked",
    "home91_at_home",
    "deaths",
    "deaths_in_hospital",
    "end_of_life_admissions",
)
C = {name: i for i, name in enumerate(COUNTERS)}
LOS_BIN_DAYS = 0.25
LOS_BINS = 1461  # 0 to 365 days in quarter days; the last bin holds longer stays

# Episode log columns (one row per crisis).
EPISODE_COLUMNS = (
    "person", "generation", "crisis_number", "crisis_time", "crisis_type", "outcome",
    "service", "bed_pool", "bed_time", "medically_fit_time", "pathway", "leave_time", "died",
)
# Outcome codes of a crisis.
OUT_HOME, OUT_DIVERTED, OUT_ADMITTED = 0, 1, 2


@dataclass
class RunResult:
    """One replication of one arm."""

    counters: np.ndarray          # [Y, len(COUNTERS)]
    admissions_by_age: np.ndarray  # [Y, A]
    admissions_by_cluster: np.ndarray  # [Y, clusters]
    admissions_by_forum: np.ndarray    # [Y, forums]
    pathways: np.ndarray          # [Y, 4] discharges by pathway chosen at medically fit
    diverted_by_pool: np.ndarray  # [Y, P]
    pool_days: np.ndarray         # [Y, P] occupied place-days
    pool_episodes: np.ndarray     # [Y, P] stays started
    pool_queue_days: np.ndarray   # [Y, P] person-days waiting for a place
    los_hist: np.ndarray          # [Y, LOS_BINS]
    daily_occupancy: np.ndarray   # [D, P] places in use at the start of each day
    daily_queue: np.ndarray       # [D, P] people waiting at the start of each day
    daily_delayed: np.ndarray     # [D] medically fit people still in an acute bed
    events: int                   # events processed
    episodes: np.ndarray | None = None  # [rows, len(EPISODE_COLUMNS)] float64, if asked for

    def counter(self, name: str) -> np.ndarray:
        """One counter, per year."""
        return self.counters[:, C[name]]

    def episode_frame(self) -> pd.DataFrame:
        """The episode log as a table (empty when it was not recorded)."""
        if self.episodes is None:
            return pd.DataFrame(columns=list(EPISODE_COLUMNS))
        frame = pd.DataFrame(self.episodes, columns=list(EPISODE_COLUMNS))
        for col in ("person", "generation", "crisis_number", "crisis_type", "outcome", "service",
                    "bed_pool", "pathway", "died"):
            frame[col] = frame[col].astype(np.int64)
        return frame


def empty_result(n_years: int, n_age: int, n_clusters: int, n_forums: int, n_pools: int,
                 n_days: int) -> RunResult:
    """A RunResult of zeros, the shape both engines fill."""
    return RunResult(
        counters=np.zeros((n_years, len(COUNTERS))),
        admissions_by_age=np.zeros((n_years, n_age)),
        admissions_by_cluster=np.zeros((n_years, n_clusters)),
        admissions_by_forum=np.zeros((n_years, n_forums)),
        pathways=np.zeros((n_years, 4)),
        diverted_by_pool=np.zeros((n_years, n_pools)),
        pool_days=np.zeros((n_years, n_pools)),
        pool_episodes=np.zeros((n_years, n_pools)),
        pool_queue_days=np.zeros((n_years, n_pools)),
        los_hist=np.zeros((n_years, LOS_BINS)),
        daily_occupancy=np.zeros((n_days, n_pools)),
        daily_queue=np.zeros((n_days, n_pools)),
        daily_delayed=np.zeros(n_days),
        events=0,
    )
