"""The fast engine: the reference engine's rules in numba-compiled kernels over plain arrays.

Same inputs, same draws, same event order (time, kind priority, sequence number) as
`sim.engine_reference`, so the two give the same trajectories; read the reference engine
for the rules in plain Python. Here the state lives in a tuple of arrays (`S`), the flow in
another (`F`), and the event list is a binary heap keyed by (time, priority << 56 | seq).
The kernel never grows its arrays: if the heap or a queue fills, it stops with a code and
the wrapper runs it again with more room (the run is deterministic, so nothing changes).
"""

from __future__ import annotations

import math

import numpy as np

from sim.distributions import lognormal_from_mean
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
)
from sim.hazard import monthly_tables, next_crisis
from sim.jit import jit
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
from sim.randomness import DIVERSION as DIVERSION_STREAM
from sim.result import COUNTERS, EPISODE_COLUMNS, LOS_BIN_DAYS, LOS_BINS, RunResult, empty_result

# Event kinds = priorities, as in the reference engine.
YEAR_START, DEATH_EVENT, STAY_END, ASSESSED, CRISIS, CHECK91 = 0, 1, 2, 3, 4, 5
HOME, IN_SERVICE_LOC, TROLLEY, IN_BED, DELAYED = 0, 1, 2, 3, 4
CHECK_DAYS = 91.0
OK, HEAP_FULL, QUEUE_FULL, LOG_FULL = 0, 1, 2, 3

# Person integer columns (S[0]) and float columns (S[1]).
COHORT, COHORT0, GEN, DEATH_TOK, CRISIS_TOK, STAY_TOK, HOLD_TOK, WAIT_TOK = 0, 1, 2, 3, 4, 5, 6, 7
CRISIS_COUNT, SCHED_COUNT, LOCATION, HELD, HOLD_K, STAY_POOL, QUEUED, EPISODE_K = 8, 9, 10, 11, 12, 13, 14, 15
KIND, ROW = 16, 17
N_INT = 18
DEATH_T, READMIT_UNTIL, LAST_DISCHARGE, BED_START, MFIT = 0, 1, 2, 3, 4
N_FLOAT = 5
# Scalars (S[2] int, S[3] float).
HEAP_SIZE, SEQ, N_DELAYED, N_ROWS, EVENTS, STATUS = 0, 1, 2, 3, 4, 5
NOW, DELAYED_LAST_T = 0, 1
# Counter columns.
_C = {name: i for i, name in enumerate(COUNTERS)}
C_CRISES, C_DIVERTED, C_ED = _C["crises"], _C["diverted"], _C["ed_attendances"]
C_ADMISSIONS, C_READMIT, C_DISCHARGES = _C["admissions"], _C["readmissions_30d"], _C["discharges_alive"]
C_SPELLS, C_LOS, C_EXCESS = _C["spells_ended"], _C["los_days_sum"], _C["excess_bed_days"]
C_TROLLEY, C_TROLLEY_DAYS, C_ESCALATION = _C["trolley_waits"], _C["trolley_wait_days"], _C["escalation_admissions"]
C_DELAYED_DAYS, C_DELAYED_SPELLS = _C["delayed_days"], _C["delayed_spells"]
C_CH, C_CH65, C_REABLE = _C["care_home_admissions"], _C["care_home_admissions_65plus"], _C["reablement_starts"]
C_H91, C_H91_HOME = _C["home91_checked"], _C["home91_at_home"]
C_DEATHS, C_DEATHS_HOSP, C_EOL_ADM = _C["deaths"], _C["deaths_in_hospital"], _C["end_of_life_admissions"]
N_EP = len(EPISODE_COLUMNS)


# --- small kernels ------------------------------------------------------------------------


@jit
def _key(gen, k, sub):
    return (gen << 32) | (k << 8) | sub


@jit
def _less(ht, hk, a, b):
    return ht[a] < ht[b] or (ht[a] == ht[b] and hk[a, 0] < hk[b, 0])


@jit
def _push(S, when, kind, person, tok, aux):
    ht, hk, si = S[4], S[5], S[2]
    n = si[HEAP_SIZE]
    if n >= ht.shape[0]:
        si[STATUS] = HEAP_FULL
        return
    ht[n] = when
    hk[n, 0] = (kind << 56) | si[SEQ]
    hk[n, 1] = person
    hk[n, 2] = tok
    hk[n, 3] = aux
    si[SEQ] += 1
    si[HEAP_SIZE] = n + 1
    while n > 0:
        parent = (n - 1) >> 1
        if _less(ht, hk, n, parent):
            ht[n], ht[parent] = ht[parent], ht[n]
            for j in range(4):
                hk[n, j], hk[parent, j] = hk[parent, j], hk[n, j]
            n = parent
        else:
            break


@jit
def _pop(S):
    """Move the earliest event to the end of the live heap and return its index."""
    ht, hk, si = S[4], S[5], S[2]
    n = si[HEAP_SIZE] - 1
    ht[0], ht[n] = ht[n], ht[0]
    for j in range(4):
        hk[0, j], hk[n, j] = hk[n, j], hk[0, j]
    si[HEAP_SIZE] = n
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and _less(ht, hk, left + 1, left):
            child = left + 1
        if _less(ht, hk, child, i):
            ht[i], ht[child] = ht[child], ht[i]
            for j in range(4):
                hk[i, j], hk[child, j] = hk[child, j], hk[i, j]
            i = child
        else:
            break
    return n


@jit
def _schedule(S, F, when, kind, person, tok, aux):
    if when < F[0][H_HORIZON]:
        _push(S, when, kind, person, tok, aux)


@jit
def _year(F, t):
    y = int(t // DAYS_PER_YEAR)
    n_years = F[1][I_NYEARS]
    return y if y < n_years else n_years - 1


@jit
def _ramp(F, t):
    ramp = F[FR_RAMP]
    m = int(t // DAYS_PER_MONTH)
    if m > ramp.shape[0] - 1:
        m = ramp.shape[0] - 1
    return ramp[m]


@jit
def _mix1(F, layers, t, c):
    base = layers[0, c]
    return base + _ramp(F, t) * (layers[1, c] - base)


@jit
def _mix2(F, layers, t, c, k):
    base = layers[0, c, k]
    return base + _ramp(F, t) * (layers[1, c, k] - base)


@jit
def _u(F, stream, person, key):
    return uniform(F[1][I_SEED], stream, person, key)


@jit
def _touch(S, F, R, p):
    sf, occ, waiting, last_t = S[3], S[6], S[8], S[9]
    t = sf[NOW]
    y = _year(F, last_t[p])
    R[R_POOL_DAYS][y, p] += occ[p] * (t - last_t[p])
    R[R_QUEUE_DAYS][y, p] += waiting[p] * (t - last_t[p])
    last_t[p] = t


@jit
def _touch_delayed(S, F, R):
    sf, si = S[3], S[2]
    t = sf[NOW]
    R[R_COUNTERS][_year(F, sf[DELAYED_LAST_T]), C_DELAYED_DAYS] += si[N_DELAYED] * (t - sf[DELAYED_LAST_T])
    sf[DELAYED_LAST_T] = t


@jit
def _take(S, F, R, p):
    _touch(S, F, R, p)
    S[6][p] += 1
    R[R_EPISODES][_year(F, S[3][NOW]), p] += 1


@jit
def _release(S, F, R, p):
    _touch(S, F, R, p)
    S[6][p] -= 1
    S[10][p] = 1


@jit
def _count(S, F, R, col, amount):
    R[R_COUNTERS][_year(F, S[3][NOW]), col] += amount


@jit
def _enqueue(S, F, R, p, i):
    qi, qf, qhead, qtail = S[11], S[12], S[13], S[14]
    cap = qi.shape[1]
    if qtail[p] - qhead[p] >= cap:
        S[2][STATUS] = QUEUE_FULL
        return
    _touch(S, F, R, p)
    S[8][p] += 1
    pi = S[0]
    pi[i, QUEUED] = p
    slot = qtail[p] % cap
    qi[p, slot, 0] = i
    qi[p, slot, 1] = pi[i, WAIT_TOK]
    qf[p, slot] = S[3][NOW]
    qtail[p] += 1


@jit
def _leave_queue(S, F, R, i):
    pi = S[0]
    p = pi[i, QUEUED]
    if p >= 0:
        _touch(S, F, R, p)
        S[8][p] -= 1
        pi[i, QUEUED] = -1
        pi[i, WAIT_TOK] += 1


@jit
def _set_row(S, i, col, value):
    row = S[0][i, ROW]
    if row >= 0 and S[15].shape[0] > 0:
        S[15][row, col] = value


# --- the flow ------------------------------------------------------------------------------


@jit
def _schedule_crisis(S, F, i):
    pi, pf, sf = S[0], S[1], S[3]
    now = sf[NOW]
    c = pi[i, COHORT]
    pi[i, CRISIS_TOK] += 1
    pi[i, SCHED_COUNT] += 1
    target = -math.log(_u(F, CRISIS_TIME, i, _key(pi[i, GEN], pi[i, SCHED_COUNT], 0)))
    found = _u(F, END_OF_LIFE, i, _key(pi[i, GEN], 0, 0)) < _mix1(F, F[FR_EOL_FOUND], now, c)
    fs = F[0]
    eol_mult = _mix1(F, F[FR_EOL_FOUND_MULT], now, c) if found else fs[H_EOL_MULT]
    when = next_crisis(F[FR_G], F[FR_R], F[FR_GROWTH], F[FR_RAMP], fs[H_HORIZON],
                       F[FR_AGE][c], F[FR_BASE][c], F[FR_EXTRA][c], now, target,
                       pf[i, READMIT_UNTIL], _mix1(F, F[FR_READMIT_MULT], now, c),
                       pf[i, DEATH_T] - fs[H_EOL_WINDOW], eol_mult, pf[i, DEATH_T])
    _schedule(S, F, when, CRISIS, i, pi[i, CRISIS_TOK], 0)


@jit
def _start_life(S, F, i):
    pi, pf, sf = S[0], S[1], S[3]
    c = pi[i, COHORT]
    rate = F[FR_MORTALITY][c]
    mean_life = 1.0 / rate if rate > 0 else math.inf
    pf[i, DEATH_T] = sf[NOW] - mean_life * math.log(_u(F, DEATH, i, _key(pi[i, GEN], 0, 0)))
    pi[i, DEATH_TOK] += 1
    _schedule(S, F, pf[i, DEATH_T], DEATH_EVENT, i, pi[i, DEATH_TOK], 0)
    _schedule_crisis(S, F, i)


@jit
def _leave_home(S, F, R, i):
    pi = S[0]
    _leave_queue(S, F, R, i)
    if pi[i, HELD] == POOL_REABLEMENT:
        _release(S, F, R, POOL_REABLEMENT)
        pi[i, HELD] = -1
        pi[i, HOLD_TOK] += 1


@jit
def _start_bed(S, F, R, i, pool):
    pi, pf, sf = S[0], S[1], S[3]
    fs = F[0]
    t = sf[NOW]
    c = pi[i, COHORT]
    _take(S, F, R, pool)
    if pool == POOL_ESCALATION:
        _count(S, F, R, C_ESCALATION, 1.0)
    pi[i, LOCATION] = IN_BED
    pi[i, STAY_POOL] = pool
    pf[i, BED_START] = t
    k = pi[i, EPISODE_K]
    gen = pi[i, GEN]
    mean = _mix2(F, F[FR_LOS_MEAN], t, c, pi[i, KIND])
    u_time = _u(F, LENGTH_OF_STAY, i, _key(gen, k, 0))
    if F[1][I_LOS_MIXED] == 1:
        u_branch = _u(F, LENGTH_OF_STAY, i, _key(gen, k, 1))
        short = fs[H_SHORT_RATIO] * mean
        long = (mean - fs[H_SHORT_SHARE] * short) / (1.0 - fs[H_SHORT_SHARE])
        stay = -(short if u_branch < fs[H_SHORT_SHARE] else long) * math.log(u_time)
    else:
        stay = lognormal_from_mean(u_time, mean, fs[H_SIGMA])
    pf[i, MFIT] = t + stay
    if t >= pf[i, DEATH_T] - fs[H_EOL_WINDOW]:
        found = _u(F, END_OF_LIFE, i, _key(gen, 0, 0)) < _mix1(F, F[FR_EOL_FOUND], t, c)
        if found:
            p_death = _mix1(F, F[FR_TERMINAL_FOUND], t, c)
        else:
            p_death = _mix1(F, F[FR_TERMINAL], t, c)
    else:
        p_death = _mix1(F, F[FR_HOSP_DEATH], t, c)
    _set_row(S, i, 7, pool)
    _set_row(S, i, 8, t)
    _set_row(S, i, 9, pf[i, MFIT])
    if _u(F, IN_HOSPITAL_DEATH, i, _key(gen, k, 0)) < p_death and pf[i, MFIT] < pf[i, DEATH_T]:
        pf[i, DEATH_T] = pf[i, MFIT]
        pi[i, DEATH_TOK] += 1
        _schedule(S, F, pf[i, MFIT], DEATH_EVENT, i, pi[i, DEATH_TOK], 0)
    _schedule(S, F, pf[i, MFIT], STAY_END, i, pi[i, STAY_TOK], pool)


@jit
def _admit(S, F, R, i, c, kind):
    pf, sf = S[1], S[3]
    fs = F[0]
    t = sf[NOW]
    y = _year(F, t)
    _leave_home(S, F, R, i)
    _count(S, F, R, C_ADMISSIONS, 1.0)
    R[R_BY_AGE][y, F[FR_AGE][c]] += 1
    R[R_BY_CLUSTER][y, F[FR_CLUSTER][c]] += 1
    R[R_BY_FORUM][y, F[FR_FORUM][c]] += 1
    if t - pf[i, LAST_DISCHARGE] <= fs[H_READMIT_WINDOW]:
        _count(S, F, R, C_READMIT, 1.0)
    if t >= pf[i, DEATH_T] - fs[H_EOL_WINDOW]:
        _count(S, F, R, C_EOL_ADM, 1.0)
    _set_row(S, i, 5, 2)
    occ, cap = S[6], S[7]
    if occ[POOL_ACUTE] < cap[POOL_ACUTE]:
        _start_bed(S, F, R, i, POOL_ACUTE)
    elif F[1][I_ESCALATE] == 1 and occ[POOL_ESCALATION] < cap[POOL_ESCALATION]:
        _start_bed(S, F, R, i, POOL_ESCALATION)
    else:
        S[0][i, LOCATION] = TROLLEY
        _count(S, F, R, C_TROLLEY, 1.0)
        _enqueue(S, F, R, POOL_ACUTE, i)


@jit
def _on_crisis(S, F, R, i):
    pi, sf = S[0], S[3]
    t = sf[NOW]
    c = pi[i, COHORT]
    pi[i, CRISIS_COUNT] += 1
    k = pi[i, CRISIS_COUNT]
    pi[i, EPISODE_K] = k
    key = _key(pi[i, GEN], k, 0)
    ramp = _ramp(F, t)
    rates = F[FR_RATE]
    n_types = rates.shape[2]
    total = 0.0
    for j in range(n_types):
        total += rates[0, c, j] + ramp * (rates[1, c, j] - rates[0, c, j])
    u = _u(F, CRISIS_TYPE, i, key) * total
    kind = n_types - 1
    acc = 0.0
    for j in range(n_types):
        acc += rates[0, c, j] + ramp * (rates[1, c, j] - rates[0, c, j])
        if u < acc:
            kind = j
            break
    pi[i, KIND] = kind
    _count(S, F, R, C_CRISES, 1.0)
    log = S[15]
    if log.shape[0] > 0:
        row = S[2][N_ROWS]
        if row >= log.shape[0]:
            S[2][STATUS] = LOG_FULL
            return
        S[2][N_ROWS] += 1
        pi[i, ROW] = row
        log[row, 0] = i
        log[row, 1] = pi[i, GEN]
        log[row, 2] = k
        log[row, 3] = t
        log[row, 4] = kind
        log[row, 5] = 0
        log[row, 6] = -1
        log[row, 7] = -1
        log[row, 8] = math.nan
        log[row, 9] = math.nan
        log[row, 10] = -1
        log[row, 11] = math.nan
        log[row, 12] = 0

    service = F[FR_DIVERT_POOL][c, kind]
    occ, cap = S[6], S[7]
    if service >= 0 and _u(F, DIVERSION_STREAM, i, key) < _mix2(F, F[FR_DIVERT_PROB], t, c, kind):
        if occ[service] < cap[service]:
            _leave_home(S, F, R, i)
            _take(S, F, R, service)
            pi[i, LOCATION] = IN_SERVICE_LOC
            pi[i, STAY_POOL] = service
            _count(S, F, R, C_DIVERTED, 1.0)
            R[R_DIVERTED][_year(F, t), service] += 1
            _set_row(S, i, 5, 1)
            _set_row(S, i, 6, service)
            stay = -F[FR_POOL_MEAN][service] * math.log(_u(F, DOWNSTREAM_DURATION, i, key))
            _schedule(S, F, t + stay, STAY_END, i, pi[i, STAY_TOK], service)
            return
    _count(S, F, R, C_ED, 1.0)
    if _u(F, ADMISSION, i, key) >= _mix2(F, F[FR_ADMIT], t, c, kind):
        _schedule_crisis(S, F, i)
        return
    _admit(S, F, R, i, c, kind)


@jit
def _leave_bed(S, F, R, i, died):
    pi, pf, sf, si = S[0], S[1], S[3], S[2]
    t = sf[NOW]
    if pi[i, LOCATION] == DELAYED:
        _touch_delayed(S, F, R)
        si[N_DELAYED] -= 1
        if t > pf[i, MFIT]:
            _count(S, F, R, C_DELAYED_SPELLS, 1.0)
    _release(S, F, R, pi[i, STAY_POOL])
    pi[i, STAY_POOL] = -1
    los = t - pf[i, BED_START]
    _count(S, F, R, C_SPELLS, 1.0)
    _count(S, F, R, C_LOS, los)
    clinical = min(los, pf[i, MFIT] - pf[i, BED_START])
    _count(S, F, R, C_EXCESS, max(0.0, clinical - F[0][H_TRIM]))
    b = int(los / LOS_BIN_DAYS)
    R[R_LOS_HIST][_year(F, t), b if b < LOS_BINS - 1 else LOS_BINS - 1] += 1
    _set_row(S, i, 11, t)
    _set_row(S, i, 12, 1.0 if died else 0.0)
    if not died:
        _count(S, F, R, C_DISCHARGES, 1.0)
        pf[i, LAST_DISCHARGE] = t
        pf[i, READMIT_UNTIL] = t + F[0][H_READMIT_WINDOW]


@jit
def _medically_fit(S, F, R, i):
    pi, sf = S[0], S[3]
    t = sf[NOW]
    c = pi[i, COHORT]
    key = _key(pi[i, GEN], pi[i, EPISODE_K], 0)
    u = _u(F, PATHWAY, i, key)
    pathway = 3
    acc = 0.0
    for p in range(4):
        acc += _mix2(F, F[FR_PATHWAY], t, c, p)
        if u < acc:
            pathway = p
            break
    R[R_PATHWAYS][_year(F, t), pathway] += 1
    _set_row(S, i, 10, pathway)
    if pathway == 0:
        _leave_bed(S, F, R, i, False)
        pi[i, LOCATION] = HOME
        _schedule_crisis(S, F, i)
        return
    _touch_delayed(S, F, R)
    S[2][N_DELAYED] += 1
    pi[i, LOCATION] = DELAYED
    delay = -_mix2(F, F[FR_ASSESS], t, c, pathway) * math.log(_u(F, ASSESSMENT, i, key))
    _schedule(S, F, t + delay, ASSESSED, i, pi[i, STAY_TOK], pathway)


@jit
def _start_hold(S, F, R, i, pool, k):
    pi, sf = S[0], S[3]
    t = sf[NOW]
    if pi[i, HELD] >= 0:
        _release(S, F, R, pi[i, HELD])
    _take(S, F, R, pool)
    pi[i, HELD] = pool
    pi[i, HOLD_K] = k
    pi[i, HOLD_TOK] += 1
    sub = 2 if pool == POOL_REABLEMENT else 3
    stay = -F[FR_POOL_MEAN][pool] * math.log(_u(F, DOWNSTREAM_DURATION, i, _key(pi[i, GEN], k, sub)))
    if stay > F[FR_POOL_MAX][pool]:
        stay = F[FR_POOL_MAX][pool]
    _schedule(S, F, t + stay, STAY_END, i, pi[i, HOLD_TOK], pool)
    if pool == POOL_REABLEMENT:
        _count(S, F, R, C_REABLE, 1.0)
        _schedule(S, F, t + CHECK_DAYS, CHECK91, i, pi[i, GEN], 0)


@jit
def _move_to_care_home(S, F, R, i, k):
    pi, pf, sf = S[0], S[1], S[3]
    t = sf[NOW]
    if pi[i, HELD] >= 0:
        _release(S, F, R, pi[i, HELD])
    _take(S, F, R, POOL_CARE_HOME)
    pi[i, HELD] = POOL_CARE_HOME
    pi[i, HOLD_TOK] += 1
    c = pi[i, COHORT]
    _count(S, F, R, C_CH, 1.0)
    if F[FR_AGE65][F[FR_AGE][c]] == 1:
        _count(S, F, R, C_CH65, 1.0)
    c = F[FR_TO_CARE_HOME][c]
    pi[i, COHORT] = c
    rate = F[FR_MORTALITY][c]
    mean_life = 1.0 / rate if rate > 0 else math.inf
    pf[i, DEATH_T] = t - mean_life * math.log(_u(F, DEATH, i, _key(pi[i, GEN], k, 1)))
    pi[i, DEATH_TOK] += 1
    _schedule(S, F, pf[i, DEATH_T], DEATH_EVENT, i, pi[i, DEATH_TOK], 0)


@jit
def _move_on(S, F, R, i, target):
    pi, sf = S[0], S[3]
    t = sf[NOW]
    where = pi[i, LOCATION]
    if where == DELAYED:
        _leave_bed(S, F, R, i, False)
        k = pi[i, EPISODE_K]
    elif where == IN_SERVICE_LOC:
        _release(S, F, R, pi[i, STAY_POOL])
        pi[i, STAY_POOL] = -1
        k = pi[i, EPISODE_K]
    else:
        k = pi[i, HOLD_K]
    if target == POOL_CARE_HOME:
        _move_to_care_home(S, F, R, i, k)
        pi[i, LOCATION] = HOME
        _schedule_crisis(S, F, i)
        return
    if F[FR_POOL_KIND][target] == AT_HOME:
        _start_hold(S, F, R, i, target, k)
        if where != HOME:
            pi[i, LOCATION] = HOME
            _schedule_crisis(S, F, i)
        return
    _take(S, F, R, target)
    pi[i, LOCATION] = IN_SERVICE_LOC
    pi[i, STAY_POOL] = target
    stay = -F[FR_POOL_MEAN][target] * math.log(_u(F, DOWNSTREAM_DURATION, i, _key(pi[i, GEN], k, 1)))
    _schedule(S, F, t + stay, STAY_END, i, pi[i, STAY_TOK], target)


@jit
def _end_step_down(S, F, R, i, pool):
    pi, sf = S[0], S[3]
    c = pi[i, COHORT]
    key = _key(pi[i, GEN], pi[i, EPISODE_K], 0)
    if _u(F, DOWNSTREAM_OUTCOME, i, key) < _mix1(F, F[FR_STEP_DOWN_CH], sf[NOW], c):
        if S[6][POOL_CARE_HOME] < S[7][POOL_CARE_HOME]:
            _move_on(S, F, R, i, POOL_CARE_HOME)
        else:
            _enqueue(S, F, R, POOL_CARE_HOME, i)
        return
    _release(S, F, R, pool)
    pi[i, STAY_POOL] = -1
    pi[i, LOCATION] = HOME
    _schedule_crisis(S, F, i)


@jit
def _end_hold(S, F, R, i, pool):
    pi, sf = S[0], S[3]
    c = pi[i, COHORT]
    if pool != POOL_REABLEMENT or pi[i, LOCATION] != HOME:
        _release(S, F, R, pool)
        pi[i, HELD] = -1
        pi[i, HOLD_TOK] += 1
        return
    u = _u(F, DOWNSTREAM_OUTCOME, i, _key(pi[i, GEN], pi[i, HOLD_K], 1))
    outcome = 2
    acc = 0.0
    for o in range(3):
        acc += _mix2(F, F[FR_REABLE_OUT], sf[NOW], c, o)
        if u < acc:
            outcome = o
            break
    if outcome == 0:
        _release(S, F, R, pool)
        pi[i, HELD] = -1
        pi[i, HOLD_TOK] += 1
        return
    target = POOL_HOME_CARE if outcome == 1 else POOL_CARE_HOME
    if S[6][target] < S[7][target]:
        _move_on(S, F, R, i, target)
    else:
        pi[i, HOLD_TOK] += 1
        _enqueue(S, F, R, target, i)


@jit
def _on_death(S, F, R, i):
    pi, pf = S[0], S[1]
    where = pi[i, LOCATION]
    _count(S, F, R, C_DEATHS, 1.0)
    _leave_queue(S, F, R, i)
    if where == TROLLEY or where == IN_BED or where == DELAYED:
        _count(S, F, R, C_DEATHS_HOSP, 1.0)
    if where == IN_BED or where == DELAYED:
        _leave_bed(S, F, R, i, True)
    elif where == IN_SERVICE_LOC:
        _release(S, F, R, pi[i, STAY_POOL])
        pi[i, STAY_POOL] = -1
    if pi[i, HELD] >= 0:
        _release(S, F, R, pi[i, HELD])
        pi[i, HELD] = -1
    pi[i, STAY_TOK] += 1
    pi[i, HOLD_TOK] += 1
    pi[i, CRISIS_TOK] += 1
    pi[i, GEN] += 1
    pi[i, COHORT] = pi[i, COHORT0]
    pi[i, CRISIS_COUNT] = 0
    pi[i, SCHED_COUNT] = 0
    pf[i, READMIT_UNTIL] = -math.inf
    pf[i, LAST_DISCHARGE] = -math.inf
    pi[i, LOCATION] = HOME
    _start_life(S, F, i)


@jit
def _grant_all(S, F, R, p):
    source = POOL_ACUTE if p == POOL_ESCALATION else p
    if p == POOL_ESCALATION and F[1][I_ESCALATE] == 0:
        return False
    pi, qi, qf, qhead, qtail = S[0], S[11], S[12], S[13], S[14]
    occ, cap = S[6], S[7]
    cap_q = qi.shape[1]
    granted = False
    while qtail[source] > qhead[source] and occ[p] < cap[p]:
        slot = qhead[source] % cap_q
        qhead[source] += 1
        i = qi[source, slot, 0]
        if qi[source, slot, 1] != pi[i, WAIT_TOK]:
            continue
        _touch(S, F, R, source)
        S[8][source] -= 1
        pi[i, QUEUED] = -1
        granted = True
        if source == POOL_ACUTE:
            _count(S, F, R, C_TROLLEY_DAYS, S[3][NOW] - qf[source, slot])
            _start_bed(S, F, R, i, p)
        else:
            _move_on(S, F, R, i, p)
    return granted


@jit
def _settle(S, F, R):
    dirty = S[10]
    n_pools = dirty.shape[0]
    p = 0
    while p < n_pools:
        if dirty[p] == 1:
            dirty[p] = 0
            if _grant_all(S, F, R, p):
                p = 0
                continue
        p += 1


@jit
def _snapshot(S, R, day):
    for p in range(S[6].shape[0]):
        R[R_DAILY_OCC][day, p] = S[6][p]
        R[R_DAILY_QUEUE][day, p] = S[8][p]
    R[R_DAILY_DELAYED][day] = S[2][N_DELAYED]


@jit
def _simulate(S, F, R):
    """Run the whole event loop; returns a status code (OK, or which array was too small)."""
    fs = F[0]
    horizon = fs[H_HORIZON]
    si, sf, pi = S[2], S[3], S[0]
    occ, cap, ht, hk = S[6], S[7], S[4], S[5]
    n_days = R[R_DAILY_DELAYED].shape[0]
    capacity = F[FR_CAPACITY]
    n_pools = occ.shape[0]
    for y in range(1, F[1][I_NYEARS]):
        _schedule(S, F, y * DAYS_PER_YEAR, YEAR_START, -1, 0, y)
    for p in range(n_pools):
        for slot in range(F[FR_POOL_INITIAL][p]):
            occ[p] += 1
            stay = -F[FR_POOL_MEAN][p] * math.log(uniform(F[1][I_SEED], INITIAL_OCCUPANCY, p, slot))
            _schedule(S, F, stay, STAY_END, -1, 0, p)
    for i in range(pi.shape[0]):
        _start_life(S, F, i)
    if si[STATUS] != OK:
        return si[STATUS]
    day = 0
    while si[HEAP_SIZE] > 0:
        e = _pop(S)
        t = ht[e]
        kind = hk[e, 0] >> 56
        i = hk[e, 1]
        tok = hk[e, 2]
        aux = hk[e, 3]
        while day < n_days and day <= t:
            _snapshot(S, R, day)
            day += 1
        sf[NOW] = t
        if kind == YEAR_START:
            si[EVENTS] += 1
            for p in range(n_pools):
                _touch(S, F, R, p)
                cap[p] = capacity[p, aux]
                S[10][p] = 1
            _touch_delayed(S, F, R)
            _settle(S, F, R)
        elif kind == DEATH_EVENT:
            if tok != pi[i, DEATH_TOK]:
                continue
            si[EVENTS] += 1
            _on_death(S, F, R, i)
            _settle(S, F, R)
        elif kind == STAY_END:
            if i < 0:
                si[EVENTS] += 1
                _release(S, F, R, aux)
                _settle(S, F, R)
                continue
            pool_kind = F[FR_POOL_KIND][aux]
            if pool_kind == AT_HOME:
                if tok != pi[i, HOLD_TOK]:
                    continue
                si[EVENTS] += 1
                _end_hold(S, F, R, i, aux)
            else:
                if tok != pi[i, STAY_TOK]:
                    continue
                si[EVENTS] += 1
                if pool_kind == ACUTE or pool_kind == ESCALATION:
                    _medically_fit(S, F, R, i)
                elif pool_kind == DIVERSION:
                    _release(S, F, R, aux)
                    pi[i, LOCATION] = HOME
                    pi[i, STAY_POOL] = -1
                    _schedule_crisis(S, F, i)
                else:
                    _end_step_down(S, F, R, i, aux)
            _settle(S, F, R)
        elif kind == ASSESSED:
            if tok != pi[i, STAY_TOK]:
                continue
            si[EVENTS] += 1
            target = PATHWAY_POOL_ARR[aux]
            if occ[target] < cap[target]:
                _move_on(S, F, R, i, target)
            else:
                _enqueue(S, F, R, target, i)
            _settle(S, F, R)
        elif kind == CRISIS:
            if tok != pi[i, CRISIS_TOK]:
                continue
            si[EVENTS] += 1
            _on_crisis(S, F, R, i)
            _settle(S, F, R)
        else:  # CHECK91
            si[EVENTS] += 1
            y = _year(F, t - CHECK_DAYS)
            R[R_COUNTERS][y, C_H91] += 1
            c = pi[i, COHORT]
            if pi[i, GEN] == tok and pi[i, LOCATION] == HOME and F[FR_RESIDENCE][c] != CARE_HOME:
                R[R_COUNTERS][y, C_H91_HOME] += 1
        if si[STATUS] != OK:
            return si[STATUS]
    while day < n_days:
        _snapshot(S, R, day)
        day += 1
    sf[NOW] = horizon
    for p in range(n_pools):
        _touch(S, F, R, p)
    _touch_delayed(S, F, R)
    return OK


PATHWAY_POOL_ARR = PATHWAY_POOL

# Indices into F (the flow tuple).
(FR_SCALARS_F, FR_SCALARS_I, FR_G, FR_R, FR_GROWTH, FR_RAMP, FR_AGE, FR_BASE, FR_EXTRA,
 FR_EOL_FOUND, FR_EOL_FOUND_MULT, FR_READMIT_MULT, FR_MORTALITY, FR_LOS_MEAN, FR_TERMINAL,
 FR_TERMINAL_FOUND, FR_HOSP_DEATH, FR_CLUSTER, FR_FORUM, FR_RATE, FR_DIVERT_POOL, FR_DIVERT_PROB,
 FR_ADMIT, FR_POOL_MEAN, FR_POOL_MAX, FR_POOL_KIND, FR_PATHWAY, FR_ASSESS, FR_AGE65,
 FR_TO_CARE_HOME, FR_STEP_DOWN_CH, FR_REABLE_OUT, FR_RESIDENCE, FR_CAPACITY,
 FR_POOL_INITIAL) = range(35)
# Float scalars F[0] and int scalars F[1].
H_HORIZON, H_EOL_MULT, H_EOL_WINDOW, H_READMIT_WINDOW, H_SHORT_RATIO, H_SHORT_SHARE, H_SIGMA, H_TRIM = range(8)
I_SEED, I_NYEARS, I_LOS_MIXED, I_ESCALATE = range(4)
# Indices into R (the result tuple).
(R_COUNTERS, R_BY_AGE, R_BY_CLUSTER, R_BY_FORUM, R_PATHWAYS, R_DIVERTED, R_POOL_DAYS, R_EPISODES,
 R_QUEUE_DAYS, R_LOS_HIST, R_DAILY_OCC, R_DAILY_QUEUE, R_DAILY_DELAYED) = range(13)


def _flow_tuple(flow: FlowParams, seed: int) -> tuple:
    g, r = monthly_tables(flow)
    base = flow.crisis_rate[0].sum(axis=1)
    extra = flow.crisis_rate[1].sum(axis=1) - base
    scalars_f = np.array([flow.horizon_days, flow.eol_multiplier, flow.eol_window, flow.readmit_window,
                          flow.los_short_ratio, flow.los_short_share, flow.los_sigma, flow.trim_days])
    scalars_i = np.array([seed, flow.n_years, int(flow.los_mixed), int(flow.escalate)], dtype=np.int64)
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return (
        scalars_f, scalars_i, f64(g), f64(r), f64(flow.growth), f64(flow.ramp), i64(flow.cohort_age),
        f64(base), f64(extra), f64(flow.eol_found), f64(flow.eol_found_multiplier),
        f64(flow.readmit_multiplier), f64(flow.mortality), f64(flow.los_mean), f64(flow.terminal_death),
        f64(flow.terminal_death_found), f64(flow.hospital_death), i64(flow.cohort_cluster),
        i64(flow.cohort_forum), f64(flow.crisis_rate), i64(flow.divert_pool), f64(flow.divert_prob),
        f64(flow.admit_prob), f64(flow.pool_mean_days), f64(flow.pool_max_days), i64(flow.pool_kind),
        f64(flow.pathway), f64(flow.assess_mean), i64(flow.age_65plus.astype(np.int64)),
        i64(flow.to_care_home), f64(flow.step_down_care_home), f64(flow.reablement_outcome),
        i64(flow.cohort_residence), i64(flow.capacity), i64(flow.pool_initial),
    )


def _state_tuple(flow: FlowParams, heap_size: int, queue_size: int, log_rows: int) -> tuple:
    n = flow.person_cohort.shape[0]
    n_pools = len(flow.pool_names)
    pi = np.zeros((n, N_INT), dtype=np.int64)
    pi[:, COHORT] = flow.person_cohort
    pi[:, COHORT0] = flow.person_cohort
    for col in (HELD, STAY_POOL, QUEUED, ROW):
        pi[:, col] = -1
    pf = np.zeros((n, N_FLOAT))
    pf[:, DEATH_T] = math.inf
    pf[:, READMIT_UNTIL] = -math.inf
    pf[:, LAST_DISCHARGE] = -math.inf
    return (
        pi, pf, np.zeros(8, dtype=np.int64), np.zeros(4),
        np.empty(heap_size), np.empty((heap_size, 4), dtype=np.int64),
        np.zeros(n_pools, dtype=np.int64), np.ascontiguousarray(flow.capacity[:, 0], dtype=np.int64),
        np.zeros(n_pools, dtype=np.int64), np.zeros(n_pools),
        np.zeros(n_pools, dtype=np.int64),
        np.empty((n_pools, queue_size, 2), dtype=np.int64), np.empty((n_pools, queue_size)),
        np.zeros(n_pools, dtype=np.int64), np.zeros(n_pools, dtype=np.int64),
        np.full((log_rows, N_EP), np.nan),
    )


def run(flow: FlowParams, seed: int, log_episodes: bool = False) -> RunResult:
    """Run the fast engine once; same contract as `sim.engine_reference.run`."""
    n = flow.person_cohort.shape[0]
    F = _flow_tuple(flow, int(seed))
    heap_size = 3 * n + int(flow.pool_initial.sum()) + 4096
    queue_size = 1024 + n // 50
    log_rows = max(1024, int(n * flow.n_years * 2)) if log_episodes else 0
    while True:
        result = empty_result(flow.n_years, len(flow.age_band_names), len(flow.cluster_names),
                              len(flow.forum_names), len(flow.pool_names), int(round(flow.horizon_days)))
        R = (result.counters, result.admissions_by_age, result.admissions_by_cluster,
             result.admissions_by_forum, result.pathways, result.diverted_by_pool, result.pool_days,
             result.pool_episodes, result.pool_queue_days, result.los_hist, result.daily_occupancy,
             result.daily_queue, result.daily_delayed)
        S = _state_tuple(flow, heap_size, queue_size, log_rows)
        status = _simulate(S, F, R)
        if status == OK:
            break
        if status == HEAP_FULL:
            heap_size *= 2
        elif status == QUEUE_FULL:
            queue_size *= 2
        else:
            log_rows *= 2
    result.events = int(S[2][EVENTS])
    if log_episodes:
        result.episodes = S[15][: S[2][N_ROWS]].copy()
    return result
