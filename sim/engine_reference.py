"""The reference engine: the whole patient flow on SimPy's event queue, written to be read.

SimPy orders events by (time, priority, sequence number). Every event this engine schedules
carries the priority of its kind (`PRIORITY`), so ties at the same instant resolve the same
way as in the fast engine, which keeps its own heap with the same key.

The rules, in the order a person meets them (docs/model.md explains each in words):

1. A person at home has one pending crisis, found by inverting their cumulative hazard
   (`sim.hazard.next_crisis`) against an Exp(1) draw, and one pending death.
2. Crisis: the type is drawn in proportion to the type rates. If the type has a diversion
   service, the crisis is divertible with the cohort's chance, and is diverted if that service
   has a free place. Otherwise it is an emergency attendance, admitted with the cohort's chance.
3. Admission: an acute bed if free, else an escalation bed (if the place escalates) if free,
   else a trolley wait in first-come order. The clinical stay is drawn at the bed; an
   end-of-life or in-hospital death may end it at medically fit.
4. Medically fit: a pathway is drawn. Pathway 0 goes home at once; 1 (reablement), 2 (step-down
   bed) and 3 (care home) wait an assessment delay, then a free place in that service, in
   first-come order, in the acute bed (delayed days).
5. Reablement runs at home and ends in independence, a home-care package or a care home (each
   needing a free place, waited for in reablement). A step-down stay ends at home or in a care
   home. A care-home move is permanent: the person's cohort becomes its care-home twin.
6. Death at any point frees what the person held; the same person slot is taken at once by a
   new person of the slot's original cohort (a stationary population).
7. After any event, services with a free place admit their queue heads (pools in index order,
   again from the first after any admission), so chains of releases settle at once.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from sim.distributions import lognormal_from_mean, normal_ppf  # noqa: F401  (shared sampler)
from sim.flow import (
    ACUTE,
    AT_HOME,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    DIVERSION,
    ESCALATION,
    PATHWAY_POOL,
    POOL_ACUTE,
    POOL_CARE_HOME,
    POOL_ESCALATION,
    POOL_HOME_CARE,
    POOL_REABLEMENT,
    FlowParams,
    type_running_sums,
)
from sim.hazard import monthly_tables, next_crisis
from sim.population import CARE_HOME
from sim.randomness import (
    ADMISSION,
    ASSESSMENT,
    CRISIS_TIME,
    CRISIS_TYPE,
    DEATH,
    DOWNSTREAM_DURATION,
    DOWNSTREAM_OUTCOME,
    END_OF_LIFE,
    IN_HOSPITAL_DEATH,
    INITIAL_OCCUPANCY,
    LENGTH_OF_STAY,
    PATHWAY,
    uniform,
)
from sim.randomness import (
    DIVERSION as DIVERSION_STREAM,
)
from sim.result import (
    EPISODE_COLUMNS,
    LOS_BIN_DAYS,
    LOS_BINS,
    OUT_ADMITTED,
    OUT_DIVERTED,
    OUT_HOME,
    C,
    RunResult,
    empty_result,
)

# Event kinds; the number is also the tie-break priority (lower first at the same time).
YEAR_START, DEATH_EVENT, STAY_END, ASSESSED, CRISIS, CHECK91 = 0, 1, 2, 3, 4, 5
SNAPSHOT_PRIORITY = -1
# Where a person is.
HOME, IN_SERVICE_LOC, TROLLEY, IN_BED, DELAYED = 0, 1, 2, 3, 4
CHECK_DAYS = 91.0


def draw_key(generation: int, crisis: int, sub: int) -> int:
    """Draw number of a person's draw: their generation, crisis number and sub-draw."""
    return (generation << 32) | (crisis << 8) | sub


class _Scheduled(simpy.Event):
    """A SimPy event that fires at env.now + delay with an explicit tie-break priority."""

    def __init__(self, env, delay, priority, handler, args):
        super().__init__(env)
        self._ok = True
        self._value = None
        self.callbacks.append(lambda _event: handler(*args))
        env.schedule(self, priority, delay)


class ReferenceEngine:
    """Run one arm for one replication. Read `run` and the handlers below it top to bottom."""

    def __init__(self, flow: FlowParams, seed: int, log_episodes: bool = False):
        self.f = flow
        self.seed = int(seed)
        self.log = log_episodes
        self.env = simpy.Environment()
        self.horizon = flow.horizon_days
        n = flow.person_cohort.shape[0]
        P = len(flow.pool_names)
        self.P = P
        self.g, self.r, self.growth_m = monthly_tables(flow)
        self.base = flow.crisis_rate[0].sum(axis=1)
        self.extra = flow.crisis_rate[1].sum(axis=1) - self.base
        self.type_sums = type_running_sums(flow)
        self.res = empty_result(flow.n_years, len(flow.age_band_names), len(flow.cluster_names),
                                len(flow.forum_names), P, int(round(self.horizon)))
        self.rows: list[list[float]] = []

        cohort = flow.person_cohort.astype(np.int64).tolist()
        self.cohort0 = list(cohort)
        self.cohort = list(cohort)
        self.gen = [0] * n
        self.death_time = [math.inf] * n
        self.death_tok = [0] * n
        self.crisis_tok = [0] * n
        self.stay_tok = [0] * n
        self.hold_tok = [0] * n
        self.wait_tok = [0] * n
        self.crisis_count = [0] * n
        self.schedule_count = [0] * n
        self.readmit_until = [-math.inf] * n
        self.last_discharge = [-math.inf] * n
        self.location = [HOME] * n
        self.held = [-1] * n
        self.hold_k = [0] * n
        self.stay_pool = [-1] * n
        self.queued = [-1] * n
        self.bed_start = [0.0] * n
        self.mfit = [0.0] * n
        self.episode_k = [0] * n
        self.kind = [0] * n
        self.row = [-1] * n

        self.occ = [0] * P
        self.cap = [int(c) for c in flow.capacity[:, 0]]
        self.waiting = [0] * P
        self.queue: list[deque] = [deque() for _ in range(P)]
        self.last_t = [0.0] * P
        self.dirty = [False] * P
        self.n_delayed = 0
        self.delayed_last_t = 0.0

    # --- helpers -----------------------------------------------------------------------

    def u(self, stream: int, person: int, key: int) -> float:
        return uniform(self.seed, stream, person, key)

    def year(self, t: float) -> int:
        return min(int(t // DAYS_PER_YEAR), self.f.n_years - 1)

    def ramp_now(self) -> float:
        m = int(self.env.now // DAYS_PER_MONTH)
        return self.f.ramp[min(m, self.f.ramp.shape[0] - 1)]

    def mix(self, layers: np.ndarray, *index) -> float:
        """A parameter in force now: today's value moved towards the arm's by the ramp."""
        base = layers[(0, *index)]
        return base + self.ramp_now() * (layers[(1, *index)] - base)

    def schedule(self, when: float, kind: int, *args) -> None:
        if when < self.horizon:
            _Scheduled(self.env, when - self.env.now, kind, self.handlers[kind], args)

    def touch(self, p: int) -> None:
        """Add place-days and queue-days since the pool last changed (never across a year)."""
        t = self.env.now
        y = self.year(self.last_t[p])
        self.res.pool_days[y, p] += self.occ[p] * (t - self.last_t[p])
        self.res.pool_queue_days[y, p] += self.waiting[p] * (t - self.last_t[p])
        self.last_t[p] = t

    def touch_delayed(self) -> None:
        t = self.env.now
        self.res.counters[self.year(self.delayed_last_t), C["delayed_days"]] += self.n_delayed * (t - self.delayed_last_t)
        self.delayed_last_t = t

    def take(self, p: int) -> None:
        self.touch(p)
        self.occ[p] += 1
        self.res.pool_episodes[self.year(self.env.now), p] += 1

    def release(self, p: int) -> None:
        self.touch(p)
        self.occ[p] -= 1
        self.dirty[p] = True

    def enqueue(self, p: int, i: int) -> None:
        self.touch(p)
        self.waiting[p] += 1
        self.queued[i] = p
        self.queue[p].append((i, self.wait_tok[i], self.env.now))

    def leave_queue(self, i: int) -> None:
        p = self.queued[i]
        if p >= 0:
            self.touch(p)
            self.waiting[p] -= 1
            self.queued[i] = -1
            self.wait_tok[i] += 1

    def count(self, name: str, amount: float = 1.0) -> None:
        self.res.counters[self.year(self.env.now), C[name]] += amount

    # --- the run -----------------------------------------------------------------------

    def run(self) -> RunResult:
        f = self.f
        self.handlers = {YEAR_START: self.on_year_start, DEATH_EVENT: self.on_death,
                         STAY_END: self.on_stay_end, ASSESSED: self.on_assessed,
                         CRISIS: self.on_crisis, CHECK91: self.on_check91}
        for y in range(1, f.n_years):
            self.schedule(y * DAYS_PER_YEAR, YEAR_START, y)
        for p in range(self.P):
            # Places filled at the start empty at random (exponential) times.
            for slot in range(int(f.pool_initial[p])):
                self.occ[p] += 1
                stay = -f.pool_mean_days[p] * math.log(uniform(self.seed, INITIAL_OCCUPANCY, p, slot))
                self.schedule(stay, STAY_END, -1, 0, p)
        for i in range(len(self.cohort)):
            self.start_life(i)
        _Scheduled(self.env, 0.0, SNAPSHOT_PRIORITY, self.on_snapshot, (0,))
        self.env.run(until=self.horizon)
        for p in range(self.P):
            self.touch(p)
        self.touch_delayed()
        self.res.events = self.events
        if self.log:
            self.res.episodes = np.array(self.rows, dtype=np.float64).reshape(-1, len(EPISODE_COLUMNS))
        return self.res

    events = 0

    def start_life(self, i: int) -> None:
        """A new occupant of slot i: draw their death and their first crisis."""
        c = self.cohort[i]
        mean_life = 1.0 / self.f.mortality[c] if self.f.mortality[c] > 0 else math.inf
        self.death_time[i] = self.env.now - mean_life * math.log(self.u(DEATH, i, draw_key(self.gen[i], 0, 0)))
        self.death_tok[i] += 1
        self.schedule(self.death_time[i], DEATH_EVENT, i, self.death_tok[i])
        self.schedule_crisis(i)

    def schedule_crisis(self, i: int) -> None:
        """Find and schedule the next crisis of a person who is at home now."""
        f, c, now = self.f, self.cohort[i], self.env.now
        self.crisis_tok[i] += 1
        self.schedule_count[i] += 1
        target = -math.log(self.u(CRISIS_TIME, i, draw_key(self.gen[i], self.schedule_count[i], 0)))
        found = self.u(END_OF_LIFE, i, draw_key(self.gen[i], 0, 0)) < self.mix(f.eol_found, c)
        eol_mult = self.mix(f.eol_found_multiplier, c) if found else f.eol_multiplier
        when = next_crisis(self.g, self.r, self.growth_m, f.ramp, self.horizon, int(f.cohort_age[c]),
                           self.base[c], self.extra[c], now, target,
                           self.readmit_until[i], self.mix(f.readmit_multiplier, c),
                           self.death_time[i] - f.eol_window, eol_mult, self.death_time[i])
        self.schedule(when, CRISIS, i, self.crisis_tok[i])

    # --- handlers ----------------------------------------------------------------------

    def on_snapshot(self, day: int) -> None:
        for p in range(self.P):
            self.res.daily_occupancy[day, p] = self.occ[p]
            self.res.daily_queue[day, p] = self.waiting[p]
        self.res.daily_delayed[day] = self.n_delayed
        if day + 1 < self.res.daily_delayed.shape[0]:
            _Scheduled(self.env, 1.0, SNAPSHOT_PRIORITY, self.on_snapshot, (day + 1,))

    def on_year_start(self, y: int) -> None:
        self.events += 1
        for p in range(self.P):
            self.touch(p)
            self.cap[p] = int(self.f.capacity[p, y])
            self.dirty[p] = True
        self.touch_delayed()
        self.settle()

    def on_crisis(self, i: int, tok: int) -> None:
        if tok != self.crisis_tok[i]:
            return
        self.events += 1
        self.crisis(i)
        self.settle()  # leaving home may have freed a reablement place

    def crisis(self, i: int) -> None:
        f, c, t = self.f, self.cohort[i], self.env.now
        self.crisis_count[i] += 1
        k = self.crisis_count[i]
        self.episode_k[i] = k
        key = draw_key(self.gen[i], k, 0)
        ramp = self.ramp_now()
        sums = self.type_sums[:, c]  # running sums over the types (flow.type_running_sums)
        n_types = sums.shape[1]
        u = self.u(CRISIS_TYPE, i, key) * (sums[0, -1] + ramp * (sums[1, -1] - sums[0, -1]))
        kind = 0
        for j in range(n_types - 1):
            if u >= sums[0, j] + ramp * (sums[1, j] - sums[0, j]):
                kind += 1
        self.kind[i] = kind
        self.count("crises")
        if self.log:
            self.row[i] = len(self.rows)
            self.rows.append([i, self.gen[i], k, t, kind, OUT_HOME, -1, -1, math.nan, math.nan, -1, math.nan, 0])

        service = int(f.divert_pool[c, kind])
        if service >= 0 and self.u(DIVERSION_STREAM, i, key) < self.mix(f.divert_prob, c, kind):
            if self.occ[service] < self.cap[service]:
                self.leave_home(i)
                self.take(service)
                self.location[i] = IN_SERVICE_LOC
                self.stay_pool[i] = service
                self.count("diverted")
                self.res.diverted_by_pool[self.year(t), service] += 1
                if self.log:
                    self.rows[self.row[i]][5] = OUT_DIVERTED
                    self.rows[self.row[i]][6] = service
                stay = -f.pool_mean_days[service] * math.log(self.u(DOWNSTREAM_DURATION, i, key))
                self.schedule(t + stay, STAY_END, i, self.stay_tok[i], service)
                return
        self.count("ed_attendances")
        if self.u(ADMISSION, i, key) >= self.mix(f.admit_prob, c, kind):
            self.schedule_crisis(i)
            return
        self.admit(i, c, kind)

    def leave_home(self, i: int) -> None:
        """Leaving home for a service or hospital ends reablement and any wait from it."""
        self.leave_queue(i)
        if self.held[i] == POOL_REABLEMENT:
            self.release(POOL_REABLEMENT)
            self.held[i] = -1
            self.hold_tok[i] += 1

    def admit(self, i: int, c: int, kind: int) -> None:
        f, t = self.f, self.env.now
        y = self.year(t)
        self.leave_home(i)
        self.count("admissions")
        self.res.admissions_by_age[y, f.cohort_age[c]] += 1
        self.res.admissions_by_cluster[y, f.person_cluster[i]] += 1
        self.res.admissions_by_forum[y, f.person_forum[i]] += 1
        if t - self.last_discharge[i] <= f.readmit_window:
            self.count("readmissions_30d")
        if t >= self.death_time[i] - f.eol_window:
            self.count("end_of_life_admissions")
        if self.log:
            self.rows[self.row[i]][5] = OUT_ADMITTED
        if self.occ[POOL_ACUTE] < self.cap[POOL_ACUTE]:
            self.start_bed(i, POOL_ACUTE)
        elif f.escalate and self.occ[POOL_ESCALATION] < self.cap[POOL_ESCALATION]:
            self.start_bed(i, POOL_ESCALATION)
        else:
            self.location[i] = TROLLEY
            self.count("trolley_waits")
            self.enqueue(POOL_ACUTE, i)

    def start_bed(self, i: int, pool: int) -> None:
        f, c, t = self.f, self.cohort[i], self.env.now
        self.take(pool)
        if pool == POOL_ESCALATION:
            self.count("escalation_admissions")
        self.location[i] = IN_BED
        self.stay_pool[i] = pool
        self.bed_start[i] = t
        k = self.episode_k[i]
        mean = self.mix(f.los_mean, c, self.kind[i])
        u_time = self.u(LENGTH_OF_STAY, i, draw_key(self.gen[i], k, 0))
        if f.los_mixed:
            u_branch = self.u(LENGTH_OF_STAY, i, draw_key(self.gen[i], k, 1))
            short = f.los_short_ratio * mean
            long = (mean - f.los_short_share * short) / (1.0 - f.los_short_share)
            stay = -(short if u_branch < f.los_short_share else long) * math.log(u_time)
        else:
            stay = lognormal_from_mean(u_time, mean, f.los_sigma)
        self.mfit[i] = t + stay
        if t >= self.death_time[i] - f.eol_window:
            found = self.u(END_OF_LIFE, i, draw_key(self.gen[i], 0, 0)) < self.mix(f.eol_found, c)
            p_death = self.mix(f.terminal_death_found, c) if found else self.mix(f.terminal_death, c)
        else:
            p_death = self.mix(f.hospital_death, c)
        if self.log:
            row = self.rows[self.row[i]]
            row[7], row[8], row[9] = pool, t, self.mfit[i]
        if self.u(IN_HOSPITAL_DEATH, i, draw_key(self.gen[i], k, 0)) < p_death and self.mfit[i] < self.death_time[i]:
            self.death_time[i] = self.mfit[i]
            self.death_tok[i] += 1
            self.schedule(self.mfit[i], DEATH_EVENT, i, self.death_tok[i])
        self.schedule(self.mfit[i], STAY_END, i, self.stay_tok[i], pool)

    def on_stay_end(self, i: int, tok: int, pool: int) -> None:
        f = self.f
        if i < 0:  # a place filled at the start empties
            self.events += 1
            self.release(pool)
            self.settle()
            return
        kind = f.pool_kind[pool]
        if kind == AT_HOME:
            if tok != self.hold_tok[i]:
                return
            self.events += 1
            self.end_hold(i, pool)
        else:
            if tok != self.stay_tok[i]:
                return
            self.events += 1
            if kind in (ACUTE, ESCALATION):
                self.medically_fit(i)
            elif kind == DIVERSION:
                self.release(pool)
                self.location[i] = HOME
                self.stay_pool[i] = -1
                self.schedule_crisis(i)
            else:
                self.end_step_down(i, pool)
        self.settle()

    def medically_fit(self, i: int) -> None:
        f, c, t = self.f, self.cohort[i], self.env.now
        key = draw_key(self.gen[i], self.episode_k[i], 0)
        probs = [self.mix(f.pathway, c, p) for p in range(4)]
        u, pathway, acc = self.u(PATHWAY, i, key), 3, 0.0
        for p in range(4):
            acc += probs[p]
            if u < acc:
                pathway = p
                break
        self.res.pathways[self.year(t), pathway] += 1
        if self.log:
            self.rows[self.row[i]][10] = pathway
        if pathway == 0:
            self.leave_bed(i, died=False)
            self.location[i] = HOME
            self.schedule_crisis(i)
            return
        self.touch_delayed()
        self.n_delayed += 1
        self.location[i] = DELAYED
        delay = -self.mix(f.assess_mean, c, pathway) * math.log(self.u(ASSESSMENT, i, key))
        self.schedule(t + delay, ASSESSED, i, self.stay_tok[i], pathway)

    def on_assessed(self, i: int, tok: int, pathway: int) -> None:
        if tok != self.stay_tok[i]:
            return
        self.events += 1
        target = int(PATHWAY_POOL[pathway])
        if self.occ[target] < self.cap[target]:
            self.move_on(i, target)
        else:
            self.enqueue(target, i)
        self.settle()

    def leave_bed(self, i: int, died: bool) -> None:
        """End an acute spell: free the bed and count the stay."""
        f, t = self.f, self.env.now
        if self.location[i] == DELAYED:
            self.touch_delayed()
            self.n_delayed -= 1
            if t > self.mfit[i]:
                self.count("delayed_spells")
        self.release(self.stay_pool[i])
        self.stay_pool[i] = -1
        los = t - self.bed_start[i]
        self.count("spells_ended")
        self.count("los_days_sum", los)
        # Days beyond the trim point, counting only the clinical stay: delayed days are costed
        # separately, as delayed days.
        clinical = min(los, self.mfit[i] - self.bed_start[i])
        self.count("excess_bed_days", max(0.0, clinical - f.trim_days))
        self.res.los_hist[self.year(t), min(int(los / LOS_BIN_DAYS), LOS_BINS - 1)] += 1
        if self.log:
            self.rows[self.row[i]][11] = t
            self.rows[self.row[i]][12] = 1 if died else 0
        if not died:
            self.count("discharges_alive")
            self.last_discharge[i] = t
            self.readmit_until[i] = t + f.readmit_window

    def move_on(self, i: int, target: int) -> None:
        """Take a free place in *target*, leaving the bed, step-down bed or reablement held."""
        f, t = self.f, self.env.now
        where = self.location[i]
        if where == DELAYED:
            self.leave_bed(i, died=False)
            k = self.episode_k[i]
        elif where == IN_SERVICE_LOC:
            self.release(self.stay_pool[i])
            self.stay_pool[i] = -1
            k = self.episode_k[i]
        else:  # at home, in reablement
            k = self.hold_k[i]
        if target == POOL_CARE_HOME:
            self.move_to_care_home(i, k)
            self.location[i] = HOME
            self.schedule_crisis(i)  # a new residence, a new hazard
            return
        if f.pool_kind[target] == AT_HOME:
            self.start_hold(i, target, k)
            if where != HOME:
                self.location[i] = HOME
                self.schedule_crisis(i)
            return
        # A step-down bed.
        self.take(target)
        self.location[i] = IN_SERVICE_LOC
        self.stay_pool[i] = target
        stay = -f.pool_mean_days[target] * math.log(self.u(DOWNSTREAM_DURATION, i, draw_key(self.gen[i], k, 1)))
        self.schedule(t + stay, STAY_END, i, self.stay_tok[i], target)

    def start_hold(self, i: int, pool: int, k: int) -> None:
        """Start a place held while at home: reablement or a home-care package."""
        f, t = self.f, self.env.now
        if self.held[i] >= 0:
            self.release(self.held[i])
        self.take(pool)
        self.held[i] = pool
        self.hold_k[i] = k
        self.hold_tok[i] += 1
        sub = 2 if pool == POOL_REABLEMENT else 3
        stay = -f.pool_mean_days[pool] * math.log(self.u(DOWNSTREAM_DURATION, i, draw_key(self.gen[i], k, sub)))
        stay = min(stay, f.pool_max_days[pool])
        self.schedule(t + stay, STAY_END, i, self.hold_tok[i], pool)
        if pool == POOL_REABLEMENT:
            self.count("reablement_starts")
            self.schedule(t + CHECK_DAYS, CHECK91, i, self.gen[i])

    def move_to_care_home(self, i: int, k: int) -> None:
        """A permanent care-home move: a place held until death, and a new cohort."""
        f, t = self.f, self.env.now
        if self.held[i] >= 0:
            self.release(self.held[i])
        self.take(POOL_CARE_HOME)
        self.held[i] = POOL_CARE_HOME
        self.hold_tok[i] += 1
        c = self.cohort[i]
        self.count("care_home_admissions")
        if f.age_65plus[f.cohort_age[c]]:
            self.count("care_home_admissions_65plus")
        c = int(f.to_care_home[c])
        self.cohort[i] = c
        mean_life = 1.0 / f.mortality[c] if f.mortality[c] > 0 else math.inf
        self.death_time[i] = t - mean_life * math.log(self.u(DEATH, i, draw_key(self.gen[i], k, 1)))
        self.death_tok[i] += 1
        self.schedule(self.death_time[i], DEATH_EVENT, i, self.death_tok[i])

    def end_step_down(self, i: int, pool: int) -> None:
        f, c = self.f, self.cohort[i]
        key = draw_key(self.gen[i], self.episode_k[i], 0)
        if self.u(DOWNSTREAM_OUTCOME, i, key) < self.mix(f.step_down_care_home, c):
            if self.occ[POOL_CARE_HOME] < self.cap[POOL_CARE_HOME]:
                self.move_on(i, POOL_CARE_HOME)
            else:
                self.enqueue(POOL_CARE_HOME, i)
            return
        self.release(pool)
        self.stay_pool[i] = -1
        self.location[i] = HOME
        self.schedule_crisis(i)

    def end_hold(self, i: int, pool: int) -> None:
        f, c = self.f, self.cohort[i]
        if pool != POOL_REABLEMENT or self.location[i] != HOME:
            self.release(pool)
            self.held[i] = -1
            self.hold_tok[i] += 1
            return
        probs = [self.mix(f.reablement_outcome, c, o) for o in range(3)]
        u = self.u(DOWNSTREAM_OUTCOME, i, draw_key(self.gen[i], self.hold_k[i], 1))
        outcome, acc = 2, 0.0
        for o in range(3):
            acc += probs[o]
            if u < acc:
                outcome = o
                break
        if outcome == 0:
            self.release(pool)
            self.held[i] = -1
            self.hold_tok[i] += 1
            return
        target = POOL_HOME_CARE if outcome == 1 else POOL_CARE_HOME
        if self.occ[target] < self.cap[target]:
            self.move_on(i, target)
        else:
            self.hold_tok[i] += 1  # reablement now runs on until the place is found
            self.enqueue(target, i)

    def on_death(self, i: int, tok: int) -> None:
        if tok != self.death_tok[i]:
            return
        self.events += 1
        where = self.location[i]
        self.count("deaths")
        self.leave_queue(i)
        if where in (TROLLEY, IN_BED, DELAYED):
            self.count("deaths_in_hospital")
        if where in (IN_BED, DELAYED):
            self.leave_bed(i, died=True)
        elif where == IN_SERVICE_LOC:
            self.release(self.stay_pool[i])
            self.stay_pool[i] = -1
        if self.held[i] >= 0:
            self.release(self.held[i])
            self.held[i] = -1
        self.stay_tok[i] += 1
        self.hold_tok[i] += 1
        self.crisis_tok[i] += 1
        # The slot's next occupant.
        self.gen[i] += 1
        self.cohort[i] = self.cohort0[i]
        self.crisis_count[i] = 0
        self.schedule_count[i] = 0
        self.readmit_until[i] = -math.inf
        self.last_discharge[i] = -math.inf
        self.location[i] = HOME
        self.start_life(i)
        self.settle()

    def on_check91(self, i: int, generation: int) -> None:
        self.events += 1
        y = self.year(self.env.now - CHECK_DAYS)
        self.res.counters[y, C["home91_checked"]] += 1
        c = self.cohort[i]
        if (self.gen[i] == generation and self.location[i] == HOME
                and self.f.cohort_residence[c] != CARE_HOME):
            self.res.counters[y, C["home91_at_home"]] += 1

    # --- queues ------------------------------------------------------------------------

    def settle(self) -> None:
        """Give free places to queue heads until nothing more can move (pools in index order)."""
        p = 0
        while p < self.P:
            if self.dirty[p]:
                self.dirty[p] = False
                if self.grant_all(p):
                    p = 0
                    continue
            p += 1

    def grant_all(self, p: int) -> bool:
        source = POOL_ACUTE if p == POOL_ESCALATION else p
        if p == POOL_ESCALATION and not self.f.escalate:
            return False
        granted = False
        queue = self.queue[source]
        while queue and self.occ[p] < self.cap[p]:
            i, tok, since = queue.popleft()
            if tok != self.wait_tok[i]:
                continue
            self.touch(source)
            self.waiting[source] -= 1
            self.queued[i] = -1
            granted = True
            if source == POOL_ACUTE:
                self.count("trolley_wait_days", self.env.now - since)
                self.start_bed(i, p)
            else:
                self.move_on(i, p)
        return granted


def run(flow: FlowParams, seed: int, log_episodes: bool = False) -> RunResult:
    """Run the reference engine once."""
    return ReferenceEngine(flow, seed, log_episodes).run()
