"""The fast engine: the reference engine's rules in numba-compiled kernels over plain arrays.

Same inputs, same draws, same event order (time, kind priority, sequence number) as
`sim.engine_reference`, so the two give the same trajectories to the last bit
(tests/test_engine_agreement.py); read the reference engine for the rules in plain Python.
Each handler below mirrors the reference method of the same name, and event times are
SimPy's own: an event scheduled at *when* from *now* happens at now + (when - now).

Where the time went, and what was done about it (docs/performance.md has the figures):

- Reference counting. The kernels never allocate, so they are compiled without numba's
  reference counting (`sim.jit.kernel`), which otherwise counted every array argument of
  every call, atomically, and took more time than the simulation.
- Calls. A call passes each array as several machine words: the hot handlers are pasted
  into the event loop (``kernel(inline=True)``) and the others take only the arrays they use.
- Memory. An event reads one person's row and one cohort's parameters out of tens of
  megabytes; while it is handled, the rows the next events will read are fetched
  (`_prefetch_next`). A person's row is 128 aligned bytes; a cohort's row starts with what
  every crisis reads.
- The event list. Everyone's next crisis and death wait in buckets of a few days; a bucket
  is sorted when its days come and then read in order, and only events scheduled into days
  already sorted go through a binary heap, which stays small.
- The clock. An event's year and the ramp in force change only at month boundaries, so
  they are worked out once a month, with an exact floor division (`sim.hazard.floor_div`).
- Attendances. Most crises end in an emergency attendance and nothing else, which the draws
  alone decide; those of a person at home are counted as soon as the crisis before them is
  handled, without going through the event list (`_schedule_crisis`).

The kernel never grows its arrays: if the event list, a queue or the episode log fills, it
stops with a code and the wrapper runs it again with more room (the run is deterministic,
so nothing changes).
"""

from __future__ import annotations

import math
import threading

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
    type_running_sums,
)
from sim.hazard import floor_div, monthly_tables, next_crisis
from sim.jit import kernel, nonneg, prefetch
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
    N_STREAMS,
    PATHWAY,
    entity_key,
    entity_uniform,
    keyed_uniform,
    stream_key,
)
from sim.randomness import DIVERSION as DIVERSION_STREAM
from sim.result import COUNTERS, EPISODE_COLUMNS, LOS_BIN_DAYS, LOS_BINS, RunResult

# Event kinds = priorities, as in the reference engine.
YEAR_START, DEATH_EVENT, STAY_END, ASSESSED, CRISIS, CHECK91 = 0, 1, 2, 3, 4, 5
HOME, IN_SERVICE_LOC, TROLLEY, IN_BED, DELAYED = 0, 1, 2, 3, 4
CHECK_DAYS = 91.0
OK, HEAP_FULL, QUEUE_FULL, LOG_FULL, CRISIS_TIE = 0, 1, 2, 3, 4
# Crises this close to the person's death (days) go through the event list, where the
# death's own event time decides which comes first.
DEATH_MARGIN = 1e-6
# The event list's far buckets (see its section): days per bucket, events per chunk.
BUCKET_DAYS = 2
CHUNK = 32

# person: int32 [N, N_PERSON], one row per person slot: 64 bytes, one cache line. Every
# column is a count, a token, an index or a code far below 2**31; 32 bits a column took
# England's peak memory from 11.2 to 7.9 GiB.
(COHORT, GEN, DEATH_TOK, CRISIS_TOK, STAY_TOK, HOLD_TOK, WAIT_TOK, CRISIS_COUNT, SCHED_COUNT,
 LOCATION, HELD, HOLD_K, STAY_POOL, QUEUED, EPISODE_K, KIND) = range(16)
N_PERSON = 16
# person_t: float64 [N, N_PERSON_T], times of the same people (the readmission window ends a
# fixed time after the last discharge, so it is not stored).
DEATH_T, LAST_DISCHARGE, BED_START, MFIT = range(4)
N_PERSON_T = 4
# pools: int64 [P, N_POOL] and pool_f: float64 [P, N_POOL_F], one row per pool (service).
KIND_OF_POOL, OCC, CAP, WAITING, DIRTY, Q_HEAD, Q_TAIL, LAST_YEAR = range(8)
N_POOL = 8
MEAN_DAYS, MAX_DAYS, LAST_T = range(3)
N_POOL_F = 3
# si: int64 scalars; sf: float64 scalars. si[CHANGED] says which pools were marked changed
# (DIRTY) since the event loop last looked for someone to move: none (0), one (its index + 1)
# or any number (-1).
N_DELAYED, DELAYED_YEAR, N_ROWS, EVENTS, STATUS, CHANGED = range(6)
DELAYED_T = 0
# The event list's int64 scalars (evs) and chunk table columns (chunks).
HEAP_SIZE, SEQ, NEXT_BUCKET, FREE, EV_STATUS, RUN_POS, RUN_LEN = range(7)
NEXT, FILL = 0, 1
# Where the next event comes from (`_next_event`).
NO_EVENT, FROM_RUN, FROM_HEAP = 0, 1, 2
# `_prefetch_next` fetches the person row of the run's event this many places on (timed: 1
# to 4 all within noise).
PF_PERSON = 2

# first: float64 [N, 1 + F_STEP * steps], the draws of every person's set-up that do not
# depend on the arm (`_first_draws`): the logarithm of the death draw, then for each of the
# first crises the Exp(1) draw of its time and its type, diversion and admission uniforms.
# NO_FIRST, with no rows, stands for none. Three crises a person cover most set-ups (the
# default place draws about 2.3 crisis times a person there); of one to four, three timed
# best, by a little.
F_STEP = 4
FIRST_STEPS = 3
NO_FIRST = np.zeros((0, 1 + F_STEP))

# Flow scalars: fl (float64) and il (int64).
(H_HORIZON, H_EOL_MULT, H_EOL_WINDOW, H_READMIT_WINDOW, H_SHORT_RATIO, H_SHORT_SHARE, H_SIGMA,
 H_TRIM) = range(8)
I_N_YEARS, I_LOS_MIXED, I_ESCALATE, I_N_TYPES, I_COLD = range(5)
# il[I_KEYS + stream]: the stream's key (randomness.stream_key, from the seed) as int64 bits.
I_KEYS = 5
# il[I_CHAIN]: 1 to count emergency-attendance-only crises at once (`_schedule_crisis`).
I_CHAIN = I_KEYS + N_STREAMS
# Cohort parameters: lay float64 [C, N_HOT + 4 K + N_COLD, 2], today's value and its change
# under the arm at full effect (the arm's value less today's) side by side. A row holds first
# what every crisis reads (N_HOT named columns, then four blocks of K columns, one per crisis
# type), then the rest from il[I_COLD] on.
L_BASE, L_EXTRA, L_EOL_FOUND, L_EOL_FOUND_MULT, L_READMIT_MULT = range(5)
N_HOT = 5
L_MORTALITY, L_TERMINAL, L_TERMINAL_FOUND, L_HOSP_DEATH, L_STEP_DOWN_CH = range(5)
L_PATHWAY, L_ASSESS, L_REABLE = 5, 9, 13
N_COLD = 16
T_RATE, T_DIVERT, T_ADMIT, T_LOS = range(4)
# coh int64 [C, N_COH + K]: the cohort's age band (also its column of the admissions by place),
# residence, twin, and the diversion pool of each crisis type.
K_AGE, K_RESIDENCE, K_TO_CARE_HOME, K_AGE65 = range(4)
N_COH = 4
# home_place int32 [N, 2]: the result columns of each person slot's cluster and forum.
H_CLUSTER, H_FORUM = 0, 1
# Results by year: pool_year float64 [Y, 4, P].
PY_DAYS, PY_EPISODES, PY_QUEUE_DAYS, PY_DIVERTED = range(4)

# Counter columns; counts float64 [Y, len(COUNTERS) + 4] holds the pathways after them.
_C = {name: i for i, name in enumerate(COUNTERS)}
C_CRISES, C_DIVERTED, C_ED = _C["crises"], _C["diverted"], _C["ed_attendances"]
C_ADMISSIONS, C_READMIT = _C["admissions"], _C["readmissions_30d"]
C_DISCHARGES, C_SPELLS = _C["discharges_alive"], _C["spells_ended"]
C_LOS, C_EXCESS = _C["los_days_sum"], _C["excess_bed_days"]
C_TROLLEY, C_TROLLEY_DAYS = _C["trolley_waits"], _C["trolley_wait_days"]
C_ESCALATION = _C["escalation_admissions"]
C_DELAYED_DAYS, C_DELAYED_SPELLS = _C["delayed_days"], _C["delayed_spells"]
C_CH, C_CH65 = _C["care_home_admissions"], _C["care_home_admissions_65plus"]
C_REABLE, C_H91, C_H91_HOME = _C["reablement_starts"], _C["home91_checked"], _C["home91_at_home"]
C_DEATHS, C_DEATHS_HOSP = _C["deaths"], _C["deaths_in_hospital"]
C_EOL_ADM = _C["end_of_life_admissions"]
C_PATHWAY = len(COUNTERS)
N_EP = len(EPISODE_COLUMNS)
PATHWAY_POOL_ARR = PATHWAY_POOL


if DAYS_PER_YEAR != int(DAYS_PER_YEAR):
    raise ValueError("engine_fast._year needs a year of whole days")

# --- small kernels ------------------------------------------------------------------------


@kernel
def _key(gen, k, sub):
    """Draw number: generation, crisis number and sub-draw (reference: draw_key)."""
    return (gen << 32) | (k << 8) | sub


@kernel(inline=True)
def _year(t, n_years):
    """The year of time t >= 0: Python's t // DAYS_PER_YEAR, at most the last year.

    A year is a whole number of days, so each year's start is an exact double, and two exact
    comparisons put right the quotient's guess (pasted into its callers: it is found for
    every attendance counted at once). `floor_div`, which also takes days that are not whole,
    would do, with 1.7% more instructions an event (measured).
    """
    y = int(t * (1.0 / DAYS_PER_YEAR))  # within one of the year
    if y * DAYS_PER_YEAR > t:
        y -= 1
    elif (y + 1) * DAYS_PER_YEAR <= t:
        y += 1
    return nonneg(y if y < n_years else n_years - 1)


@kernel
def _ramp(ramp, t):
    m = floor_div(t, DAYS_PER_MONTH)
    if m > ramp.shape[0] - 1:
        m = ramp.shape[0] - 1
    return ramp[m]


@kernel
def _mix(lay, c, col, ramp):
    """A parameter in force now: today's value moved towards the arm's by the ramp.

    lay holds today's value and its change under the arm at full effect (the arm's value
    less today's, worked out once, the same double the reference engine works out).
    """
    c, col = nonneg(c), nonneg(col)
    return lay[c, col, 0] + ramp * lay[c, col, 1]


# --- the event list ---------------------------------------------------------------------
#
# ev = (heap_t, heap_k, far_t, far_k, chunks, heads, evs, run_t, run_k, hist). Events are
# ordered by (time, kind << 56 | sequence number), the reference engine's (time, priority,
# sequence). Most events are far ahead (everyone's next crisis and death), so they wait in
# buckets of BUCKET_DAYS days. A bucket is a list of chunks of CHUNK events (far_t, far_k;
# chunks holds each chunk's next chunk and fill), so filling and emptying it reads and writes
# memory in order. When everything before a bucket has happened, the bucket is sorted into
# the run (run_t, run_k), which is then read in order: a counting sort on the time's place in
# the bucket, finished by an insertion sort that has almost nothing left to do (`_fill_run`).
# An event scheduled into a bucket already sorted goes into a small binary heap instead
# (heap_t: time; heap_k: key, person, token, aux). The next event is the earlier of the
# run's next and the heap's first, and every event left in a bucket is later than both, so
# the order is the same as one heap's.


@kernel(inline=True)
def _put_event(to_t, to_k, i, t, k0, k1, k2, k3):
    """Write an event (time; key, person, token, aux) at row i of a heap or the run."""
    to_t[i] = t
    to_k[i, 0] = k0
    to_k[i, 1] = k1
    to_k[i, 2] = k2
    to_k[i, 3] = k3


@kernel(inline=True)
def _move_event(ev_t, ev_k, to, src):
    """Copy the event at row src to row to of the same heap or run."""
    _put_event(ev_t, ev_k, to, ev_t[src], ev_k[src, 0], ev_k[src, 1], ev_k[src, 2], ev_k[src, 3])


@kernel
def _heap_insert(heap_t, heap_k, evs, when, key, person, tok, aux):
    n = evs[HEAP_SIZE]
    if n >= heap_t.shape[0] - 1:
        evs[EV_STATUS] = HEAP_FULL
        return
    evs[HEAP_SIZE] = n + 1
    while n > 0:
        parent = (n - 1) >> 1
        pt = heap_t[parent]
        if when < pt or (when == pt and key < heap_k[parent, 0]):
            _move_event(heap_t, heap_k, n, parent)
            n = parent
        else:
            break
    _put_event(heap_t, heap_k, n, when, key, person, tok, aux)


@kernel(inline=True)
def _schedule(ev, horizon, now, when, kind, person, tok, aux):
    """Add an event at *when*, scheduled at time *now* (reference: schedule).

    SimPy stores an event's time as now + (when - now), which can differ from *when* in the
    last bit; the event list keeps SimPy's time so that both engines see the same clock.
    Events at or after the horizon never happen.
    """
    if not when < horizon:
        return
    when = now + (when - now)
    if not when < horizon:
        return
    heap_t, heap_k, far_t, far_k, chunks, heads, evs = ev[0], ev[1], ev[2], ev[3], ev[4], ev[5], ev[6]
    key = (kind << 56) | evs[SEQ]
    evs[SEQ] += 1
    bucket = nonneg(int(when) // BUCKET_DAYS)  # 0 <= when
    if bucket < evs[NEXT_BUCKET]:
        # np.int64: a constant argument would compile a copy of the callee for its value.
        _heap_insert(heap_t, heap_k, evs, when, key, np.int64(person), np.int64(tok),
                     np.int64(aux))
        return
    chunk = heads[bucket]
    if chunk < 0 or chunks[chunk, FILL] == CHUNK:
        fresh = evs[FREE]
        if fresh < 0:
            evs[EV_STATUS] = HEAP_FULL
            return
        evs[FREE] = chunks[fresh, NEXT]
        chunks[fresh, NEXT] = chunk
        chunks[fresh, FILL] = 0
        heads[bucket] = fresh
        chunk = fresh
    chunk = nonneg(chunk)
    j = nonneg(chunks[chunk, FILL])
    chunks[chunk, FILL] = j + 1
    far_t[chunk, j] = when
    far_k[chunk, j, 0] = key
    far_k[chunk, j, 1] = person
    far_k[chunk, j, 2] = tok
    far_k[chunk, j, 3] = aux


@kernel
def _fill_run(ev, b):
    """Sort bucket b's events into the run and free its chunks (the run is used up)."""
    far_t, far_k, chunks, heads, evs, run_t, run_k, hist = (
        ev[2], ev[3], ev[4], ev[5], ev[6], ev[7], ev[8], ev[9])
    count = 0
    chunk = heads[b]
    while chunk >= 0:
        count += chunks[chunk, FILL]
        chunk = chunks[chunk, NEXT]
    if count > run_t.shape[0]:
        evs[EV_STATUS] = HEAP_FULL
        return
    # Counting sort into `count` equal slices of the bucket's days: about one event a slice.
    start = float(b * BUCKET_DAYS)
    scale = count / BUCKET_DAYS
    for s in range(count + 1):
        hist[s] = 0
    chunk = heads[b]
    while chunk >= 0:
        for j in range(chunks[chunk, FILL]):
            s = int((far_t[chunk, j] - start) * scale)  # 0 <= s: the bucket's own times
            hist[nonneg(s if s < count else count - 1) + 1] += 1
        chunk = chunks[chunk, NEXT]
    for s in range(1, count + 1):
        hist[s] += hist[s - 1]
    chunk = heads[b]
    while chunk >= 0:
        for j in range(chunks[chunk, FILL]):
            t = far_t[chunk, j]
            s = int((t - start) * scale)
            s = nonneg(s if s < count else count - 1)
            at = nonneg(hist[s])
            hist[s] = at + 1
            _put_event(run_t, run_k, at, t, far_k[chunk, j, 0], far_k[chunk, j, 1],
                       far_k[chunk, j, 2], far_k[chunk, j, 3])
        after = chunks[chunk, NEXT]
        chunks[chunk, NEXT] = evs[FREE]
        evs[FREE] = chunk
        chunk = after
    heads[b] = -1
    # Only events of one slice can be out of order (and equal times ordered by key).
    for j in range(1, count):
        t = run_t[j]
        k0 = run_k[j, 0]
        if t > run_t[j - 1] or (t == run_t[j - 1] and k0 > run_k[j - 1, 0]):
            continue
        k1, k2, k3 = run_k[j, 1], run_k[j, 2], run_k[j, 3]
        i = j
        while i > 0 and (t < run_t[i - 1] or (t == run_t[i - 1] and k0 < run_k[i - 1, 0])):
            _move_event(run_t, run_k, i, i - 1)
            i -= 1
        _put_event(run_t, run_k, i, t, k0, k1, k2, k3)
    evs[RUN_POS] = 0
    evs[RUN_LEN] = count


@kernel(inline=True)
def _next_event(ev):
    """Where the earliest event is (FROM_RUN or FROM_HEAP), sorting buckets in; NO_EVENT if none."""
    heap_t, heap_k, heads, evs, run_t, run_k = ev[0], ev[1], ev[5], ev[6], ev[7], ev[8]
    while True:
        pos = nonneg(evs[RUN_POS])
        if pos < evs[RUN_LEN]:
            if evs[HEAP_SIZE] > 0 and (heap_t[0] < run_t[pos] or (
                    heap_t[0] == run_t[pos] and heap_k[0, 0] < run_k[pos, 0])):
                return FROM_HEAP
            return FROM_RUN
        if evs[HEAP_SIZE] > 0:
            return FROM_HEAP
        b = evs[NEXT_BUCKET]
        if b >= heads.shape[0]:
            return NO_EVENT
        evs[NEXT_BUCKET] = b + 1
        if heads[b] >= 0:
            _fill_run(ev, np.int64(b))
            if evs[EV_STATUS] != OK:
                return NO_EVENT


@kernel(inline=True)
def _peek(ev):
    """Time and key of the earliest event left (inf and -1 if none is in the run or heap)."""
    heap_t, heap_k, evs, run_t, run_k = ev[0], ev[1], ev[6], ev[7], ev[8]
    pos = nonneg(evs[RUN_POS])
    t, k = math.inf, np.int64(-1)
    if pos < evs[RUN_LEN]:
        t, k = run_t[pos], run_k[pos, 0]
    if evs[HEAP_SIZE] > 0 and (heap_t[0] < t or (heap_t[0] == t and heap_k[0, 0] < k)):
        t, k = heap_t[0], heap_k[0, 0]
    return t, k


@kernel
def _drop_first(ev):
    """Remove the earliest event (read it from heap index 0 first)."""
    heap_t, heap_k, evs = ev[0], ev[1], ev[6]
    n = evs[HEAP_SIZE] - 1
    evs[HEAP_SIZE] = n
    if n == 0:
        return
    t = heap_t[n]
    k0, k1, k2, k3 = heap_k[n, 0], heap_k[n, 1], heap_k[n, 2], heap_k[n, 3]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        # Which child is earlier: a coin toss, so chosen without a branch (the heap keeps one
        # spare slot to read); equal times, which are rare, fall back to the sequence.
        rt = heap_t[child + 1]
        lt = heap_t[child]
        right_first = rt < lt
        if rt == lt:
            right_first = heap_k[child + 1, 0] < heap_k[child, 0]
        child += np.int64(right_first & (child + 1 < n))
        ct = heap_t[child]
        if ct < t or (ct == t and heap_k[child, 0] < k0):
            _move_event(heap_t, heap_k, i, child)
            i = child
        else:
            break
    _put_event(heap_t, heap_k, i, t, k0, k1, k2, k3)


@kernel(inline=True)
def _prefetch_next(ev, person, person_t, home_place):
    """Start fetching what the next events will read, while this one is handled.

    Much of an event's time would otherwise go in waiting for its person's row to arrive
    from memory. Far events come from the run in order, so what is coming is known: with
    the run's next event at place p, the person rows of the event at p + PF_PERSON are
    fetched now. Near events come from the small heap, whose people were seen recently.
    The cohort parameters are not fetched ahead: the thousand or so cohorts in use stay in
    the processor's cache (fetching their 14 lines for every event was 2% slower, timed).
    """
    evs, run_k = ev[6], ev[8]
    pos = nonneg(evs[RUN_POS])
    if pos + PF_PERSON < evs[RUN_LEN] and run_k[pos + PF_PERSON, 1] >= 0:
        who = run_k[pos + PF_PERSON, 1]
        prefetch(person, who, 0)
        prefetch(person_t, who, 0)
        prefetch(home_place, who, 0)


# --- pools and queues ---------------------------------------------------------------------


@kernel
def _touch(pools, pool_f, pool_year, p, now, y):
    """Add place-days and queue-days since the pool last changed (never across a year)."""
    p = nonneg(p)  # a pool
    last = nonneg(pools[p, LAST_YEAR])
    dt = now - pool_f[p, LAST_T]
    pool_year[last, PY_DAYS, p] += pools[p, OCC] * dt
    pool_year[last, PY_QUEUE_DAYS, p] += pools[p, WAITING] * dt
    pool_f[p, LAST_T] = now
    pools[p, LAST_YEAR] = y


@kernel
def _take(pools, pool_f, pool_year, p, now, y):
    p, y = nonneg(p), nonneg(y)
    _touch(pools, pool_f, pool_year, p, now, y)
    pools[p, OCC] += 1
    pool_year[y, PY_EPISODES, p] += 1


@kernel
def _release(pools, pool_f, pool_year, si, p, now, y):
    p = nonneg(p)
    _touch(pools, pool_f, pool_year, p, now, y)
    pools[p, OCC] -= 1
    pools[p, DIRTY] = 1
    changed = si[CHANGED]
    si[CHANGED] = p + 1 if changed == 0 or changed == p + 1 else -1


@kernel
def _touch_delayed(si, sf, counts, now, y):
    counts[si[DELAYED_YEAR], C_DELAYED_DAYS] += si[N_DELAYED] * (now - sf[DELAYED_T])
    sf[DELAYED_T] = now
    si[DELAYED_YEAR] = y


@kernel
def _enqueue(person, pools, pool_f, pool_year, queue, queue_t, si, p, i, now, y):
    size = queue.shape[1]
    if pools[p, Q_TAIL] - pools[p, Q_HEAD] >= size:
        si[STATUS] = QUEUE_FULL
        return
    _touch(pools, pool_f, pool_year, p, now, y)
    pools[p, WAITING] += 1
    person[i, QUEUED] = p
    slot = pools[p, Q_TAIL] % size
    queue[p, slot, 0] = i
    queue[p, slot, 1] = person[i, WAIT_TOK]
    queue_t[p, slot] = now
    pools[p, Q_TAIL] += 1


@kernel
def _leave_queue(person, pools, pool_f, pool_year, i, now, y):
    p = person[i, QUEUED]
    if p >= 0:
        _touch(pools, pool_f, pool_year, p, now, y)
        pools[p, WAITING] -= 1
        person[i, QUEUED] = -1
        person[i, WAIT_TOK] += 1


@kernel
def _set_row(log, rows, i, col, value):
    """Write a column of the person's current episode-log row, if the log is kept."""
    if rows.shape[0] > 0 and rows[nonneg(i)] >= 0:
        log[rows[i], col] = value


# --- the flow ------------------------------------------------------------------------------


@kernel(inline=True)
def _next_crisis_time(lay, fl, hz, c, age, death, readmit_until, now, ramp, target, u_eol):
    """The time of the next crisis of a person who is at home now (inf: none in the run).

    *target* is the Exp(1) draw of the crisis time (`_crisis_target`) and *u_eol* the
    person's end-of-life draw (used only if the window starts within the run); the caller
    works the latter out once for a run of crises (`_schedule_crisis`).
    """
    horizon = fl[H_HORIZON]
    # Multipliers next_crisis would never read are not worked out: the readmission one once
    # the window is over, the end-of-life one (and its draw) when the window starts after the
    # run, as it does for most people.
    readmit_mult = _mix(lay, c, L_READMIT_MULT, ramp) if now < readmit_until else 1.0
    eol_start = death - fl[H_EOL_WINDOW]
    eol_mult = fl[H_EOL_MULT]
    if eol_start < horizon:
        if u_eol < _mix(lay, c, L_EOL_FOUND, ramp):
            eol_mult = _mix(lay, c, L_EOL_FOUND_MULT, ramp)
    g, r, growth_m, ramp_table = hz
    return next_crisis(g, r, growth_m, ramp_table, horizon, age,
                       lay[c, L_BASE, 0], lay[c, L_EXTRA, 0], now, target,
                       readmit_until, readmit_mult, eol_start, eol_mult, death)


@kernel(inline=True)
def _crisis_target(time_key, gen, sched):
    """The Exp(1) draw behind crisis-time draw number *sched* of a person whose
    `entity_key` of the crisis-time stream is *time_key*."""
    return -math.log(entity_uniform(time_key, _key(gen, sched, 0)))


@kernel(inline=True)
def _crisis_kind(lay, c, n_types, ramp, u):
    """The crisis type for the uniform u, drawn in proportion to the type rates in force.

    The cohort's T_RATE columns hold running sums over the types (`flow.type_running_sums`);
    the type is the number of them, bar the last, that the scaled uniform reaches. Counting
    them all takes no branch that depends on the draw, which the processor would mispredict.
    """
    last = nonneg(N_HOT + n_types - 1)
    u = u * (lay[c, last, 0] + ramp * lay[c, last, 1])
    kind = 0
    for j in range(n_types - 1):
        kind += u >= lay[c, N_HOT + j, 0] + ramp * lay[c, N_HOT + j, 1]
    return nonneg(kind)


@kernel(inline=True)
def _draw_keys(il, i):
    """Person i's `entity_key`s of the three streams of a crisis's own draws."""
    return (entity_key(il[I_KEYS + CRISIS_TYPE], i), entity_key(il[I_KEYS + DIVERSION_STREAM], i),
            entity_key(il[I_KEYS + ADMISSION], i))


@kernel(inline=True)
def _crisis_draws(lay, coh, n_types, c, keys, key, ramp):
    """What a crisis's own draws say: (type, divertible, admitted if it reaches ED).

    *keys* are the person's `_draw_keys`. Divertible means the type has a diversion service
    and the diversion draw says yes; the crisis is then diverted if that service has a free
    place. These are pure functions of the draws and the ramp, not of the services' state.
    """
    type_key, divert_key, admit_key = keys
    return _crisis_outcome(lay, coh, n_types, c, ramp, entity_uniform(type_key, key),
                           entity_uniform(divert_key, key), entity_uniform(admit_key, key))


@kernel(inline=True)
def _crisis_outcome(lay, coh, n_types, c, ramp, u_type, u_divert, u_admit):
    """`_crisis_draws` from the crisis's three uniforms: its type, diversion and admission
    draws (the diversion one is read only for a type with a diversion service)."""
    n_types = nonneg(n_types)
    kind = _crisis_kind(lay, c, n_types, ramp, u_type)
    divertible = (coh[c, N_COH + kind] >= 0
                  and u_divert < _mix(lay, c, N_HOT + T_DIVERT * n_types + kind, ramp))
    admitted = u_admit < _mix(lay, c, N_HOT + T_ADMIT * n_types + kind, ramp)
    return kind, divertible, admitted


@kernel(inline=True)
def _pack_draws(kind, divertible, admitted):
    """A crisis's draws as one positive number, kept in its event's aux."""
    return 1 + 4 * kind + 2 * np.int64(divertible) + np.int64(admitted)


@kernel(inline=True)
def _unpack_draws(drawn):
    """(type, divertible, admitted) from `_pack_draws`."""
    d = drawn - 1
    return nonneg(d >> 2), (d & 2) != 0, (d & 1) != 0


@kernel(inline=True)
def _log_crisis(person, log, rows, si, i, k, now, kind):
    """Start the person's episode-log row for crisis k, if the log is kept; False if full."""
    if log.shape[0] == 0:
        return True
    row = si[N_ROWS]
    if row >= log.shape[0]:
        si[STATUS] = LOG_FULL
        return False
    si[N_ROWS] += 1
    rows[i] = row
    log[row, 0] = i
    log[row, 1] = person[i, GEN]
    log[row, 2] = k
    log[row, 3] = now
    log[row, 4] = kind
    log[row, 5] = 0
    log[row, 6] = -1
    log[row, 7] = -1
    log[row, 8] = math.nan
    log[row, 9] = math.nan
    log[row, 10] = -1
    log[row, 11] = math.nan
    log[row, 12] = 0
    return True


@kernel(inline=True)
def _schedule_crisis(person, person_t, lay, coh, fl, il, hz, counts, log, rows, si,
                     ev, i, now, ramp, first, row):
    """Find and schedule the next crisis of a person who is at home now.

    First the time of the person's next crisis. Then, if attendances are counted at once, the
    crises that can only be emergency attendances are counted here, in a row: a crisis whose
    draws say "not diverted" (or whose type has no diversion service) and "not admitted"
    changes nothing but counts, whatever the services' state: the person stays at home and
    the next crisis is drawn from its time. For a person at home who holds no reablement
    place and waits in no queue, nothing else can change their crises before then but death,
    so such crises need not go through the event list: they get the same draws, counts and
    episode-log rows as the reference engine's crisis events. The first crisis that may be
    something else is scheduled, with the draws already made for it in its event's aux, so
    that `_on_crisis` need not make them again. Crises within DEATH_MARGIN of death, or at or
    after the horizon, are left to the event list.

    At the set-up, *first[row]* holds the person's first draws (`_first_draws`), shared by
    the arms of a replication; elsewhere *row* is -1 and every draw is worked out here.
    """
    i = nonneg(i)  # a person slot
    horizon = fl[H_HORIZON]
    n_years = il[I_N_YEARS]
    ramp_table = hz[3]
    last_month = ramp_table.shape[0] - 1
    # What stays the same through the run of crises, read once (stores to the row and the
    # counts would otherwise make the compiled code read it again at every crisis).
    c = nonneg(person[i, COHORT])
    gen = person[i, GEN]
    age = nonneg(coh[c, K_AGE])
    death = person_t[i, DEATH_T]
    readmit_until = person_t[i, LAST_DISCHARGE] + fl[H_READMIT_WINDOW]
    sched = person[i, SCHED_COUNT]
    count = person[i, CRISIS_COUNT]
    last_kind = np.int64(-1)
    n_types = il[I_N_TYPES]
    # The person's keys of the streams drawn at every step, worked out once for the run.
    time_key = entity_key(il[I_KEYS + CRISIS_TIME], i)
    u_eol = (keyed_uniform(il[I_KEYS + END_OF_LIFE], i, _key(gen, 0, 0))
             if death - fl[H_EOL_WINDOW] < horizon else 1.0)
    keys = _draw_keys(il, i)
    n_first = (first.shape[1] - 1) // F_STEP if row >= 0 else 0
    row = nonneg(max(row, 0))
    chain = (il[I_CHAIN] == 1 and person[i, LOCATION] == HOME
             and person[i, HELD] != POOL_REABLEMENT and person[i, QUEUED] < 0)
    t = now
    drawn = np.int64(0)
    while True:
        sched += 1
        if sched <= n_first:  # the set-up, where crisis number and draw number are the same
            target = first[row, F_STEP * sched - 3]
        else:
            target = _crisis_target(time_key, gen, sched)
        when = _next_crisis_time(lay, fl, hz, c, age, death, readmit_until, t, ramp, target,
                                 u_eol)
        now = t
        if not (chain and when < horizon):
            break
        t = now + (when - now)  # the event's time, as the event list would keep it
        if not (t < horizon and t < death - DEATH_MARGIN):
            break
        month = floor_div(t, DAYS_PER_MONTH)
        ramp = ramp_table[nonneg(month if month < last_month else last_month)]
        k = count + 1
        if k <= n_first:
            j = F_STEP * k
            kind, divertible, admitted = _crisis_outcome(lay, coh, n_types, c, ramp,
                                                         first[row, j - 2], first[row, j - 1],
                                                         first[row, j])
        else:
            kind, divertible, admitted = _crisis_draws(lay, coh, n_types, c, keys,
                                                       _key(gen, k, 0), ramp)
        if divertible or admitted:
            # The crisis event gets these draws: nothing before it can change them (the
            # person, their cohort and crisis count stay as they are, or the event is stale,
            # and the ramp is that of its time).
            drawn = _pack_draws(kind, divertible, admitted)
            break
        if not _log_crisis(person, log, rows, si, i, k, t, kind):
            break
        y = _year(t, n_years)
        count = k
        last_kind = kind
        counts[y, C_CRISES] += 1.0
        counts[y, C_ED] += 1.0
        si[EVENTS] += 1
    person[i, SCHED_COUNT] = sched
    if last_kind >= 0:  # crises were counted: the last one is the person's latest episode
        person[i, CRISIS_COUNT] = count
        person[i, EPISODE_K] = count
        person[i, KIND] = last_kind
    person[i, CRISIS_TOK] += 1  # a new token: any crisis scheduled before is stale
    _schedule(ev, horizon, now, when, CRISIS, i, person[i, CRISIS_TOK], drawn)


@kernel(inline=True)
def _death_log_u(il, i, gen):
    """The logarithm of the death draw of generation *gen* of person slot i."""
    return math.log(keyed_uniform(il[I_KEYS + DEATH], i, _key(gen, 0, 0)))


@kernel(inline=True)
def _start_life(person, person_t, lay, fl, il, ev, i, now, log_u):
    """A new occupant of slot i: their death, from *log_u*, the logarithm of their death
    draw (`_death_log_u`); the caller then schedules their first crisis."""
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    rate = lay[c, nonneg(il[I_COLD]) + L_MORTALITY, 0]
    mean_life = 1.0 / rate if rate > 0 else math.inf
    person_t[i, DEATH_T] = now - mean_life * log_u
    person[i, DEATH_TOK] += 1
    _schedule(ev, fl[H_HORIZON], now, person_t[i, DEATH_T], DEATH_EVENT, i,
              person[i, DEATH_TOK], 0)


@kernel(inline=True)
def _leave_home(person, pools, pool_f, pool_year, si, i, now, y):
    """Leaving home for a service or hospital ends reablement and any wait from it."""
    i = nonneg(i)  # a person slot
    _leave_queue(person, pools, pool_f, pool_year, i, now, y)
    if person[i, HELD] == POOL_REABLEMENT:
        _release(pools, pool_f, pool_year, si, POOL_REABLEMENT, now, y)
        person[i, HELD] = -1
        person[i, HOLD_TOK] += 1


@kernel(inline=True)
def _start_bed(person, person_t, pools, pool_f, pool_year, counts, log, rows, lay, fl, il,
               ev, i, pool, now, y, ramp):
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    _take(pools, pool_f, pool_year, pool, now, y)
    if pool == POOL_ESCALATION:
        counts[y, C_ESCALATION] += 1.0
    person[i, LOCATION] = IN_BED
    person[i, STAY_POOL] = pool
    person_t[i, BED_START] = now
    k = person[i, EPISODE_K]
    gen = person[i, GEN]
    mean = _mix(lay, c, N_HOT + T_LOS * il[I_N_TYPES] + person[i, KIND], ramp)
    u_time = keyed_uniform(il[I_KEYS + LENGTH_OF_STAY], i, _key(gen, k, 0))
    if il[I_LOS_MIXED] == 1:
        u_branch = keyed_uniform(il[I_KEYS + LENGTH_OF_STAY], i, _key(gen, k, 1))
        short = fl[H_SHORT_RATIO] * mean
        long = (mean - fl[H_SHORT_SHARE] * short) / (1.0 - fl[H_SHORT_SHARE])
        stay = -(short if u_branch < fl[H_SHORT_SHARE] else long) * math.log(u_time)
    else:
        stay = lognormal_from_mean(u_time, mean, fl[H_SIGMA])
    mfit = now + stay
    person_t[i, MFIT] = mfit
    death = person_t[i, DEATH_T]
    if now >= death - fl[H_EOL_WINDOW]:
        found = keyed_uniform(il[I_KEYS + END_OF_LIFE], i, _key(gen, 0, 0)) < _mix(lay, c, L_EOL_FOUND, ramp)
        if found:
            p_death = _mix(lay, c, nonneg(il[I_COLD]) + L_TERMINAL_FOUND, ramp)
        else:
            p_death = _mix(lay, c, nonneg(il[I_COLD]) + L_TERMINAL, ramp)
    else:
        p_death = _mix(lay, c, nonneg(il[I_COLD]) + L_HOSP_DEATH, ramp)
    _set_row(log, rows, i, 7, pool)
    _set_row(log, rows, i, 8, now)
    _set_row(log, rows, i, 9, mfit)
    horizon = fl[H_HORIZON]
    if keyed_uniform(il[I_KEYS + IN_HOSPITAL_DEATH], i, _key(gen, k, 0)) < p_death and mfit < death:
        person_t[i, DEATH_T] = mfit
        person[i, DEATH_TOK] += 1
        _schedule(ev, horizon, now, mfit, DEATH_EVENT, i, person[i, DEATH_TOK], 0)
    _schedule(ev, horizon, now, mfit, STAY_END, i, person[i, STAY_TOK], pool)


@kernel(inline=True)
def _admit(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, places,
           home_place, log, rows,
           lay, coh, fl, il, ev, si, i, c, now, y, ramp):
    i = nonneg(i)  # a person slot
    _leave_home(person, pools, pool_f, pool_year, si, i, now, y)
    counts[y, C_ADMISSIONS] += 1.0
    places[y, coh[c, K_AGE]] += 1
    places[y, home_place[i, H_CLUSTER]] += 1
    places[y, home_place[i, H_FORUM]] += 1
    if now - person_t[i, LAST_DISCHARGE] <= fl[H_READMIT_WINDOW]:
        counts[y, C_READMIT] += 1.0
    if now >= person_t[i, DEATH_T] - fl[H_EOL_WINDOW]:
        counts[y, C_EOL_ADM] += 1.0
    _set_row(log, rows, i, 5, 2)
    if pools[POOL_ACUTE, OCC] < pools[POOL_ACUTE, CAP]:
        _start_bed(person, person_t, pools, pool_f, pool_year, counts, log, rows, lay, fl, il,
                   ev, i, POOL_ACUTE, now, y, ramp)
    elif il[I_ESCALATE] == 1 and pools[POOL_ESCALATION, OCC] < pools[POOL_ESCALATION, CAP]:
        _start_bed(person, person_t, pools, pool_f, pool_year, counts, log, rows, lay, fl, il,
                   ev, i, POOL_ESCALATION, now, y, ramp)
    else:
        person[i, LOCATION] = TROLLEY
        counts[y, C_TROLLEY] += 1.0
        _enqueue(person, pools, pool_f, pool_year, queue, queue_t, si, np.int64(POOL_ACUTE), i,
                 now, y)


@kernel(inline=True)
def _on_crisis(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, places,
               home_place, log, rows,
               lay, coh, fl, il, hz, ev, si,
               i, now, y, ramp, drawn):
    """A crisis at home. True if the person is still at home after it (the caller then
    schedules their next crisis).

    *drawn* is the event's aux: the crisis's own draws if `_schedule_crisis` already made
    them (`_pack_draws`), else 0.
    """
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    person[i, CRISIS_COUNT] += 1
    k = person[i, CRISIS_COUNT]
    person[i, EPISODE_K] = k
    key = _key(person[i, GEN], k, 0)
    if drawn > 0:
        kind, divertible, admitted = _unpack_draws(drawn)
    else:
        kind, divertible, admitted = _crisis_draws(lay, coh, il[I_N_TYPES], c, _draw_keys(il, i),
                                                   key, ramp)
    person[i, KIND] = kind
    counts[y, C_CRISES] += 1.0
    if not _log_crisis(person, log, rows, si, i, k, now, kind):
        return False

    service = coh[c, N_COH + kind]
    if divertible:
        if pools[service, OCC] < pools[service, CAP]:
            _leave_home(person, pools, pool_f, pool_year, si, i, now, y)
            _take(pools, pool_f, pool_year, service, now, y)
            person[i, LOCATION] = IN_SERVICE_LOC
            person[i, STAY_POOL] = service
            counts[y, C_DIVERTED] += 1.0
            pool_year[y, PY_DIVERTED, service] += 1
            _set_row(log, rows, i, 5, 1)
            _set_row(log, rows, i, 6, service)
            u = keyed_uniform(il[I_KEYS + DOWNSTREAM_DURATION], i, key)
            stay = -pool_f[service, MEAN_DAYS] * math.log(u)
            _schedule(ev, fl[H_HORIZON], now, now + stay, STAY_END, i,
                      person[i, STAY_TOK], service)
            return False
    counts[y, C_ED] += 1.0
    if not admitted:
        return True
    _admit(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, places,
           home_place, log, rows,
           lay, coh, fl, il, ev, si, i, c, now, y, ramp)
    return False


@kernel(inline=True)
def _leave_bed(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows, fl, si, sf,
               i, died, now, y):
    """End an acute spell: free the bed and count the stay."""
    i = nonneg(i)  # a person slot
    if person[i, LOCATION] == DELAYED:
        _touch_delayed(si, sf, counts, now, y)
        si[N_DELAYED] -= 1
        if now > person_t[i, MFIT]:
            counts[y, C_DELAYED_SPELLS] += 1.0
    _release(pools, pool_f, pool_year, si, person[i, STAY_POOL], now, y)
    person[i, STAY_POOL] = -1
    los = now - person_t[i, BED_START]
    counts[y, C_SPELLS] += 1.0
    counts[y, C_LOS] += los
    # Days beyond the trim point, counting only the clinical stay: delayed days are costed
    # separately, as delayed days.
    clinical = min(los, person_t[i, MFIT] - person_t[i, BED_START])
    counts[y, C_EXCESS] += max(0.0, clinical - fl[H_TRIM])
    b = int(los / LOS_BIN_DAYS)
    los_hist[y, b if b < LOS_BINS - 1 else LOS_BINS - 1] += 1
    _set_row(log, rows, i, 11, now)
    _set_row(log, rows, i, 12, 1.0 if died else 0.0)
    if not died:
        counts[y, C_DISCHARGES] += 1.0
        person_t[i, LAST_DISCHARGE] = now


@kernel(inline=True)
def _medically_fit(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                   lay, coh, fl, il, hz, ev, si, sf,
                   i, now, y, ramp):
    """The end of a clinical stay: the discharge pathway. True if the person goes home now
    (the caller then schedules their next crisis)."""
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    key = _key(person[i, GEN], person[i, EPISODE_K], 0)
    u = keyed_uniform(il[I_KEYS + PATHWAY], i, key)
    pathway = 3
    acc = 0.0
    for p in range(4):
        acc += _mix(lay, c, nonneg(il[I_COLD]) + L_PATHWAY + p, ramp)
        if u < acc:
            pathway = p
            break
    counts[y, C_PATHWAY + pathway] += 1
    _set_row(log, rows, i, 10, pathway)
    if pathway == 0:
        _leave_bed(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows, fl,
                   si, sf, i, np.bool_(False), now, y)
        person[i, LOCATION] = HOME
        return True
    _touch_delayed(si, sf, counts, now, y)
    si[N_DELAYED] += 1
    person[i, LOCATION] = DELAYED
    u = keyed_uniform(il[I_KEYS + ASSESSMENT], i, key)
    delay = -_mix(lay, c, nonneg(il[I_COLD]) + L_ASSESS + pathway, ramp) * math.log(u)
    _schedule(ev, fl[H_HORIZON], now, now + delay, ASSESSED, i, person[i, STAY_TOK],
              pathway)
    return False


@kernel
def _start_hold(person, pools, pool_f, pool_year, counts, fl, il, ev, si,
                i, pool, k, now, y):
    """Start a place held while at home: reablement or a home-care package."""
    if person[i, HELD] >= 0:
        _release(pools, pool_f, pool_year, si, person[i, HELD], now, y)
    _take(pools, pool_f, pool_year, pool, now, y)
    person[i, HELD] = pool
    person[i, HOLD_K] = k
    person[i, HOLD_TOK] += 1
    sub = 2 if pool == POOL_REABLEMENT else 3
    u = keyed_uniform(il[I_KEYS + DOWNSTREAM_DURATION], i, _key(person[i, GEN], k, sub))
    stay = -pool_f[pool, MEAN_DAYS] * math.log(u)
    if stay > pool_f[pool, MAX_DAYS]:
        stay = pool_f[pool, MAX_DAYS]
    horizon = fl[H_HORIZON]
    _schedule(ev, horizon, now, now + stay, STAY_END, i, person[i, HOLD_TOK], pool)
    if pool == POOL_REABLEMENT:
        counts[y, C_REABLE] += 1.0
        _schedule(ev, horizon, now, now + CHECK_DAYS, CHECK91, i, person[i, GEN], 0)


@kernel
def _move_to_care_home(person, person_t, pools, pool_f, pool_year, counts, lay, coh, fl, il,
                       ev, si, i, k, now, y):
    """A permanent care-home move: a place held until death, and a new cohort."""
    if person[i, HELD] >= 0:
        _release(pools, pool_f, pool_year, si, person[i, HELD], now, y)
    _take(pools, pool_f, pool_year, POOL_CARE_HOME, now, y)
    person[i, HELD] = POOL_CARE_HOME
    person[i, HOLD_TOK] += 1
    c = nonneg(person[i, COHORT])
    counts[y, C_CH] += 1.0
    if coh[c, K_AGE65] == 1:
        counts[y, C_CH65] += 1.0
    c = coh[c, K_TO_CARE_HOME]
    person[i, COHORT] = c
    rate = lay[c, nonneg(il[I_COLD]) + L_MORTALITY, 0]
    mean_life = 1.0 / rate if rate > 0 else math.inf
    u = keyed_uniform(il[I_KEYS + DEATH], i, _key(person[i, GEN], k, 1))
    person_t[i, DEATH_T] = now - mean_life * math.log(u)
    person[i, DEATH_TOK] += 1
    _schedule(ev, fl[H_HORIZON], now, person_t[i, DEATH_T], DEATH_EVENT, i,
              person[i, DEATH_TOK], 0)


@kernel
def _move_on(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
             lay, coh, fl, il, hz, ev, si, sf,
             i, target, now, y, ramp):
    """Take a free place in *target*, leaving the bed, step-down bed or reablement held."""
    i = nonneg(i)  # a person slot
    where = person[i, LOCATION]
    if where == DELAYED:
        _leave_bed(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows, fl,
                   si, sf, i, np.bool_(False), now, y)
        k = person[i, EPISODE_K]
    elif where == IN_SERVICE_LOC:
        _release(pools, pool_f, pool_year, si, person[i, STAY_POOL], now, y)
        person[i, STAY_POOL] = -1
        k = person[i, EPISODE_K]
    else:  # at home, in reablement
        k = person[i, HOLD_K]
    if target == POOL_CARE_HOME:
        _move_to_care_home(person, person_t, pools, pool_f, pool_year, counts, lay, coh, fl, il,
                           ev, si, i, k, now, y)
        person[i, LOCATION] = HOME
        _schedule_crisis(person, person_t, lay, coh, fl, il, hz, counts, log, rows, si,
                         ev, i, now, ramp, NO_FIRST, np.int64(-1))
        return
    if pools[target, KIND_OF_POOL] == AT_HOME:
        _start_hold(person, pools, pool_f, pool_year, counts, fl, il, ev, si,
                    i, target, k, now, y)
        if where != HOME:
            person[i, LOCATION] = HOME
            _schedule_crisis(person, person_t, lay, coh, fl, il, hz, counts, log, rows, si,
                             ev, i, now, ramp, NO_FIRST, np.int64(-1))
        return
    # A step-down bed.
    _take(pools, pool_f, pool_year, target, now, y)
    person[i, LOCATION] = IN_SERVICE_LOC
    person[i, STAY_POOL] = target
    u = keyed_uniform(il[I_KEYS + DOWNSTREAM_DURATION], i, _key(person[i, GEN], k, 1))
    stay = -pool_f[target, MEAN_DAYS] * math.log(u)
    _schedule(ev, fl[H_HORIZON], now, now + stay, STAY_END, i, person[i, STAY_TOK],
              target)


@kernel(inline=True)
def _end_step_down(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, los_hist,
                   log, rows, lay, coh, fl, il, hz, ev, si, sf,
                   i, pool, now, y, ramp):
    """The end of a step-down stay. True if the person goes home now (the caller then
    schedules their next crisis)."""
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    key = _key(person[i, GEN], person[i, EPISODE_K], 0)
    u = keyed_uniform(il[I_KEYS + DOWNSTREAM_OUTCOME], i, key)
    if u < _mix(lay, c, nonneg(il[I_COLD]) + L_STEP_DOWN_CH, ramp):
        if pools[POOL_CARE_HOME, OCC] < pools[POOL_CARE_HOME, CAP]:
            _move_on(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                     lay, coh, fl, il, hz, ev, si, sf,
                     i, np.int64(POOL_CARE_HOME), now, y, ramp)
        else:
            _enqueue(person, pools, pool_f, pool_year, queue, queue_t, si,
                     np.int64(POOL_CARE_HOME), i,
                     now, y)
        return False
    _release(pools, pool_f, pool_year, si, pool, now, y)
    person[i, STAY_POOL] = -1
    person[i, LOCATION] = HOME
    return True


@kernel(inline=True)
def _end_hold(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, los_hist,
              log, rows, lay, coh, fl, il, hz, ev, si, sf,
              i, pool, now, y, ramp):
    i = nonneg(i)  # a person slot
    c = nonneg(person[i, COHORT])
    if pool != POOL_REABLEMENT or person[i, LOCATION] != HOME:
        _release(pools, pool_f, pool_year, si, pool, now, y)
        person[i, HELD] = -1
        person[i, HOLD_TOK] += 1
        return
    u = keyed_uniform(il[I_KEYS + DOWNSTREAM_OUTCOME], i, _key(person[i, GEN], person[i, HOLD_K], 1))
    outcome = 2
    acc = 0.0
    for o in range(3):
        acc += _mix(lay, c, nonneg(il[I_COLD]) + L_REABLE + o, ramp)
        if u < acc:
            outcome = o
            break
    if outcome == 0:
        _release(pools, pool_f, pool_year, si, pool, now, y)
        person[i, HELD] = -1
        person[i, HOLD_TOK] += 1
        return
    target = POOL_HOME_CARE if outcome == 1 else POOL_CARE_HOME
    if pools[target, OCC] < pools[target, CAP]:
        _move_on(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                 lay, coh, fl, il, hz, ev, si, sf,
                 i, target, now, y, ramp)
    else:
        person[i, HOLD_TOK] += 1  # reablement now runs on until the place is found
        _enqueue(person, pools, pool_f, pool_year, queue, queue_t, si, target, i, now, y)


@kernel(inline=True)
def _on_death(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows, cohort0,
              lay, fl, il, ev, si, sf, i, now, y):
    i = nonneg(i)  # a person slot
    where = person[i, LOCATION]
    counts[y, C_DEATHS] += 1.0
    _leave_queue(person, pools, pool_f, pool_year, i, now, y)
    if where == TROLLEY or where == IN_BED or where == DELAYED:
        counts[y, C_DEATHS_HOSP] += 1.0
    if where == IN_BED or where == DELAYED:
        _leave_bed(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows, fl,
                   si, sf, i, np.bool_(True), now, y)
    elif where == IN_SERVICE_LOC:
        _release(pools, pool_f, pool_year, si, person[i, STAY_POOL], now, y)
        person[i, STAY_POOL] = -1
    if person[i, HELD] >= 0:
        _release(pools, pool_f, pool_year, si, person[i, HELD], now, y)
        person[i, HELD] = -1
    person[i, STAY_TOK] += 1
    person[i, HOLD_TOK] += 1
    person[i, CRISIS_TOK] += 1
    # The slot's next occupant.
    person[i, GEN] += 1
    person[i, COHORT] = cohort0[i]
    person[i, CRISIS_COUNT] = 0
    person[i, SCHED_COUNT] = 0
    person_t[i, LAST_DISCHARGE] = -math.inf
    person[i, LOCATION] = HOME
    _start_life(person, person_t, lay, fl, il, ev, i, now, _death_log_u(il, i, person[i, GEN]))


@kernel
def _grant_all(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, los_hist, log,
               rows,
               lay, coh, fl, il, hz, ev, si, sf,
               p, now, y, ramp):
    """Give free places of pool p to its queue heads; True if anyone moved."""
    source = POOL_ACUTE if p == POOL_ESCALATION else p
    if p == POOL_ESCALATION and il[I_ESCALATE] == 0:
        return False
    size = queue.shape[1]
    granted = False
    while pools[source, Q_TAIL] > pools[source, Q_HEAD] and pools[p, OCC] < pools[p, CAP]:
        slot = pools[source, Q_HEAD] % size
        pools[source, Q_HEAD] += 1
        i = queue[source, slot, 0]
        if queue[source, slot, 1] != person[i, WAIT_TOK]:
            continue
        _touch(pools, pool_f, pool_year, source, now, y)
        pools[source, WAITING] -= 1
        person[i, QUEUED] = -1
        granted = True
        if source == POOL_ACUTE:
            counts[y, C_TROLLEY_DAYS] += now - queue_t[source, slot]
            _start_bed(person, person_t, pools, pool_f, pool_year, counts, log, rows, lay, fl, il,
                       ev, i, p, now, y, ramp)
        else:
            _move_on(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                     lay, coh, fl, il, hz, ev, si, sf,
                     i, p, now, y, ramp)
    return granted


@kernel
def _settle(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts, los_hist, log, rows,
            lay, coh, fl, il, hz, ev, si, sf, now, y, ramp):
    """Give free places to queue heads until nothing more can move (pools in index order)."""
    n_pools = pools.shape[0]
    p = np.int64(0)  # not the constant 0, which would compile _grant_all for it
    while p < n_pools:
        if pools[p, DIRTY] == 1:
            pools[p, DIRTY] = 0
            if _grant_all(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts,
                          los_hist, log, rows, lay, coh, fl, il, hz,
                          ev, si, sf, p, now, y, ramp):
                p = np.int64(0)
                continue
        p += 1


@kernel(inline=True)
def _anyone_to_move(pools, il, changed):
    """Whether `_settle` could move anyone: a changed pool with a free place and a queue.

    A changed pool whose queue is empty, or which is full, gives no place away (its queue can
    only shrink and a release marks it changed again), so it is marked settled here and the
    costly call is made only when someone may move. The event loop looks only after an event
    that marked a pool changed, and only at that pool if it was one (*changed*: si[CHANGED]).
    """
    anyone = False
    first, stop = (changed - 1, changed) if changed > 0 else (0, pools.shape[0])
    for q in range(first, stop):
        p = nonneg(q)
        if pools[p, DIRTY] == 1:
            source = POOL_ACUTE if p == POOL_ESCALATION else p
            if (pools[source, Q_TAIL] > pools[source, Q_HEAD] and pools[p, OCC] < pools[p, CAP]
                    and (p != POOL_ESCALATION or il[I_ESCALATE] == 1)):
                anyone = True
            else:
                pools[p, DIRTY] = 0
    return anyone


@kernel
def _simulate(person, person_t, cohort0, first, home_place, pools, pool_f, queue, queue_t, ev, si, sf,
              lay, coh, fl, il, hz, capacity, initial,
              counts, places, pool_year, los_hist, daily, log, rows):
    """Run the whole event loop; returns a status code (OK, or which array was too small)."""
    horizon = fl[H_HORIZON]
    n_years = il[I_N_YEARS]
    n_days = daily.shape[0]
    n_pools = pools.shape[0]
    ramp_table = hz[3]
    heap_t, heap_k, evs, run_t, run_k = ev[0], ev[1], ev[6], ev[7], ev[8]
    ramp = _ramp(ramp_table, 0.0)
    for y in range(1, n_years):
        _schedule(ev, horizon, 0.0, y * DAYS_PER_YEAR, YEAR_START, -1, 0, y)
    for p in range(n_pools):
        # Places filled at the start empty at random (exponential) times.
        for slot in range(initial[p]):
            pools[p, OCC] += 1
            stay = -pool_f[p, MEAN_DAYS] * math.log(keyed_uniform(il[I_KEYS + INITIAL_OCCUPANCY], p, slot))
            _schedule(ev, horizon, 0.0, stay, STAY_END, -1, 0, p)
    shared = first.shape[0] == person.shape[0]
    for i in range(person.shape[0]):
        _reset_person(person, person_t, cohort0, i)
        log_u = first[i, 0] if shared else _death_log_u(il, i, 0)
        _start_life(person, person_t, lay, fl, il, ev, i, 0.0, log_u)
        _schedule_crisis(person, person_t, lay, coh, fl, il, hz, counts, log, rows, si,
                         ev, i, 0.0, ramp, first, np.int64(i if shared else -1))
    if evs[EV_STATUS] != OK:
        return evs[EV_STATUS]
    if si[STATUS] != OK:
        return si[STATUS]
    day = 0
    clock_next = -1.0
    y = 0
    while True:
        source = _next_event(ev)
        if source == NO_EVENT:
            break
        if source == FROM_RUN:
            pos = nonneg(evs[RUN_POS])
            now = run_t[pos]
            kind = run_k[pos, 0] >> 56
            i = run_k[pos, 1]
            tok = run_k[pos, 2]
            aux = nonneg(run_k[pos, 3])
            evs[RUN_POS] = pos + 1
        else:
            now = heap_t[0]
            kind = heap_k[0, 0] >> 56
            i = heap_k[0, 1]
            tok = heap_k[0, 2]
            aux = nonneg(heap_k[0, 3])
            _drop_first(ev)
        if kind == CRISIS and il[I_CHAIN] == 1:
            # Two crises at the same instant go in the order they were scheduled, and a crisis
            # after attendances counted at once was scheduled earlier than the reference
            # engine schedules it: the run is done again without counting them at once.
            next_t, next_k = _peek(ev)
            if next_t == now and next_k >> 56 == CRISIS:
                return CRISIS_TIE
        _prefetch_next(ev, person, person_t, home_place)
        # Stale events (a token moved on since they were scheduled) are dropped unseen.
        if kind == DEATH_EVENT:
            if tok != person[nonneg(i), DEATH_TOK]:
                continue
        elif kind == STAY_END:
            if i >= 0:
                if pools[aux, KIND_OF_POOL] == AT_HOME:
                    if tok != person[nonneg(i), HOLD_TOK]:
                        continue
                elif tok != person[nonneg(i), STAY_TOK]:
                    continue
        elif kind == ASSESSED:
            if tok != person[nonneg(i), STAY_TOK]:
                continue
        elif kind == CRISIS:
            if tok != person[nonneg(i), CRISIS_TOK]:
                continue
        while day < n_days and day <= now:
            for p in range(n_pools):
                daily[day, p] = pools[p, OCC]
                daily[day, n_pools + p] = pools[p, WAITING]
            daily[day, 2 * n_pools] = si[N_DELAYED]
            day += 1
        si[EVENTS] += 1
        if now >= clock_next:
            # The event's year and the ramp in force change only at month and year
            # boundaries; below a bound kept just under the next one they stay as they are.
            y = _year(now, n_years)
            month = floor_div(now, DAYS_PER_MONTH)
            ramp = ramp_table[month if month < ramp_table.shape[0] else ramp_table.shape[0] - 1]
            clock_next = min((month + 1) * DAYS_PER_MONTH * (1.0 - 1e-12),
                             (floor_div(now, DAYS_PER_YEAR) + 1) * DAYS_PER_YEAR)
        y = nonneg(y)  # the year, kept from event to event
        settle = True
        # The handlers that end with the person at home say so (home): their next crisis is
        # then found and scheduled at one place below, the last thing each of them would do.
        home = False
        if kind == YEAR_START:
            for p in range(n_pools):
                _touch(pools, pool_f, pool_year, p, now, y)
                pools[p, CAP] = capacity[p, aux]
                pools[p, DIRTY] = 1
            si[CHANGED] = -1
            _touch_delayed(si, sf, counts, now, y)
        elif kind == DEATH_EVENT:
            _on_death(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                      cohort0, lay, fl, il, ev, si, sf, i, now, y)
            home = True  # the slot's next occupant
        elif kind == STAY_END:
            pool_kind = pools[aux, KIND_OF_POOL]
            if i < 0:  # a place filled at the start empties
                _release(pools, pool_f, pool_year, si, aux, now, y)
            elif pool_kind == AT_HOME:
                _end_hold(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts,
                          los_hist, log, rows, lay, coh, fl, il, hz,
                          ev, si, sf, i, aux, now, y, ramp)
            elif pool_kind == ACUTE or pool_kind == ESCALATION:
                home = _medically_fit(person, person_t, pools, pool_f, pool_year, counts,
                                      los_hist, log, rows, lay, coh, fl, il, hz, ev, si, sf,
                                      i, now, y, ramp)
            elif pool_kind == DIVERSION:
                _release(pools, pool_f, pool_year, si, aux, now, y)
                person[i, LOCATION] = HOME
                person[i, STAY_POOL] = -1
                home = True
            else:
                home = _end_step_down(person, person_t, pools, pool_f, pool_year, queue,
                                      queue_t, counts, los_hist, log, rows, lay, coh, fl, il,
                                      hz, ev, si, sf, i, aux, now, y, ramp)
        elif kind == ASSESSED:
            target = PATHWAY_POOL_ARR[aux]
            if pools[target, OCC] < pools[target, CAP]:
                _move_on(person, person_t, pools, pool_f, pool_year, counts, los_hist, log, rows,
                         lay, coh, fl, il, hz, ev, si, sf,
                         i, target, now, y, ramp)
            else:
                _enqueue(person, pools, pool_f, pool_year, queue, queue_t, si, target, i, now, y)
        elif kind == CRISIS:
            home = _on_crisis(person, person_t, pools, pool_f, pool_year, queue, queue_t,
                              counts, places, home_place, log, rows, lay, coh, fl, il, hz, ev, si,
                              i, now, y, ramp, aux)
        else:  # CHECK91
            settle = False
            y91 = _year(now - CHECK_DAYS, n_years)
            counts[y91, C_H91] += 1
            c = nonneg(person[i, COHORT])
            if (person[i, GEN] == tok and person[i, LOCATION] == HOME
                    and coh[c, K_RESIDENCE] != CARE_HOME):
                counts[y91, C_H91_HOME] += 1
        if home:
            _schedule_crisis(person, person_t, lay, coh, fl, il, hz, counts, log, rows, si,
                             ev, i, now, ramp, NO_FIRST, np.int64(-1))
        if settle and si[CHANGED] != 0:
            changed = si[CHANGED]
            si[CHANGED] = 0
            if _anyone_to_move(pools, il, changed):
                _settle(person, person_t, pools, pool_f, pool_year, queue, queue_t, counts,
                        los_hist, log, rows, lay, coh, fl, il, hz, ev, si, sf, now, y, ramp)
        if si[STATUS] != OK:
            return si[STATUS]
        if evs[EV_STATUS] != OK:
            return evs[EV_STATUS]
    if evs[EV_STATUS] != OK:
        return evs[EV_STATUS]
    while day < n_days:
        for p in range(n_pools):
            daily[day, p] = pools[p, OCC]
            daily[day, n_pools + p] = pools[p, WAITING]
        daily[day, 2 * n_pools] = si[N_DELAYED]
        day += 1
    y = _year(horizon, n_years)
    for p in range(n_pools):
        _touch(pools, pool_f, pool_year, p, horizon, y)
    _touch_delayed(si, sf, counts, horizon, y)
    return OK


# --- the wrapper ---------------------------------------------------------------------------


def _flow_arrays(flow: FlowParams, seed: int) -> dict[str, np.ndarray]:
    """The flow as the kernel's arrays (see the column constants at the top)."""
    n_cohorts = flow.n_cohorts
    n_types = flow.crisis_rate.shape[2]
    g, r, growth_m = monthly_tables(flow)
    # The same arithmetic as the reference engine's, so the totals agree to the last bit.
    base = flow.crisis_rate[0].sum(axis=1)
    extra = flow.crisis_rate[1].sum(axis=1) - base
    cold = N_HOT + 4 * n_types
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    both = lambda values: f64(np.stack([values, values]))  # noqa: E731  (no change under the arm)
    columns = ((L_BASE, both(base)), (L_EXTRA, both(extra)),
               (cold + L_MORTALITY, both(flow.mortality)),
               (L_EOL_FOUND, flow.eol_found),
               (L_EOL_FOUND_MULT, flow.eol_found_multiplier),
               (L_READMIT_MULT, flow.readmit_multiplier),
               (cold + L_TERMINAL, flow.terminal_death),
               (cold + L_TERMINAL_FOUND, flow.terminal_death_found),
               (cold + L_HOSP_DEATH, flow.hospital_death),
               (cold + L_STEP_DOWN_CH, flow.step_down_care_home))
    blocks = ((cold + L_PATHWAY, flow.pathway), (cold + L_ASSESS, flow.assess_mean),
              (cold + L_REABLE, flow.reablement_outcome),
              (N_HOT + T_RATE * n_types, type_running_sums(flow)),
              (N_HOT + T_DIVERT * n_types, flow.divert_prob),
              (N_HOT + T_ADMIT * n_types, flow.admit_prob),
              (N_HOT + T_LOS * n_types, flow.los_mean))
    blocks += tuple((col, values[:, :, None]) for col, values in columns)  # blocks one wide
    lay = np.zeros((n_cohorts, cold + N_COLD, 2))
    _put_columns(lay, np.array([col for col, _ in blocks], dtype=np.int64),
                 tuple(f64(values) for _, values in blocks))
    coh = np.zeros((n_cohorts, N_COH + n_types), dtype=np.int64)
    coh[:, K_AGE] = flow.cohort_age
    coh[:, K_RESIDENCE] = flow.cohort_residence
    coh[:, K_TO_CARE_HOME] = flow.to_care_home
    coh[:, K_AGE65] = np.asarray(flow.age_65plus, dtype=np.int64)[flow.cohort_age]
    coh[:, N_COH:] = flow.divert_pool
    fl = np.array([flow.horizon_days, flow.eol_multiplier, flow.eol_window, flow.readmit_window,
                   flow.los_short_ratio, flow.los_short_share, flow.los_sigma, flow.trim_days],
                  dtype=np.float64)
    keys = np.array([stream_key(seed, stream) for stream in range(N_STREAMS)], dtype=np.uint64)
    il = np.concatenate([np.array([flow.n_years, int(flow.los_mixed), int(flow.escalate),
                                   n_types, cold], dtype=np.int64), keys.view(np.int64),
                         np.array([1], dtype=np.int64)])  # I_CHAIN
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    return dict(lay=lay, coh=coh, fl=fl, il=il, g=f64(g), r=f64(r), growth_m=f64(growth_m),
                ramp_table=f64(flow.ramp), capacity=i64(flow.capacity),
                initial=i64(flow.pool_initial),
                cohort0=i64(flow.person_cohort),
                home_place=_home_place(flow))


def _home_place(flow: FlowParams) -> np.ndarray:
    """home_place: each person slot's result columns of its cluster and forum (int32 [N, 2])."""
    n_age, n_clusters = len(flow.age_band_names), len(flow.cluster_names)
    home = np.empty((flow.person_cohort.shape[0], 2), dtype=np.int32)
    home[:, H_CLUSTER] = flow.person_cluster
    home[:, H_CLUSTER] += n_age
    home[:, H_FORUM] = flow.person_forum
    home[:, H_FORUM] += n_age + n_clusters
    return home


@kernel
def _first_draws(il, first):
    """Fill *first* (see its layout above) for the set-up's people, generation 0."""
    steps = (first.shape[1] - 1) // F_STEP
    for i in range(first.shape[0]):
        first[i, 0] = _death_log_u(il, i, 0)
        time_key = entity_key(il[I_KEYS + CRISIS_TIME], i)
        type_key, divert_key, admit_key = _draw_keys(il, i)
        for k in range(1, steps + 1):
            key = _key(0, k, 0)
            j = F_STEP * k
            first[i, j - 3] = _crisis_target(time_key, 0, k)
            first[i, j - 2] = entity_uniform(type_key, key)
            first[i, j - 1] = entity_uniform(divert_key, key)
            first[i, j] = entity_uniform(admit_key, key)


_shared = threading.local()


def _shared_first_draws(flow: FlowParams, seed: int, il: np.ndarray) -> np.ndarray:
    """The set-up draws of a run (`_first_draws`), or NO_FIRST: the set-up then works them
    out as it goes, which gives the same numbers.

    The arms of a replication run one after another in a thread on the same seed and
    people, and draw these alike; a table made for one is kept for the next. One arm on its
    own (`caresim run`, each replication a new seed) would make a table for nothing, so a
    table is made only for the second run on a seed, or for the first run on a new seed if
    the last seed had more than one run. Places above REUSE_MAX_PEOPLE (England) never keep
    one.
    """
    n = flow.person_cohort.shape[0]
    if n > REUSE_MAX_PEOPLE:
        return NO_FIRST
    key = (int(seed), n)
    # The last run's key, its table (or None) and how many runs there were on that key.
    last_key, table, runs = getattr(_shared, "first", None) or (None, None, 0)
    make = True  # a second run on this key
    if last_key != key:
        make, table, runs = runs > 1, None, 0
    if table is None and make:
        table = np.empty((n, 1 + F_STEP * FIRST_STEPS))
        _first_draws(il, table)
    _shared.first = (key, table, runs + 1)
    return NO_FIRST if table is None else table


def forget_first_draws() -> None:
    """Drop this thread's kept set-up draws and what it learnt from its runs, so that the
    next run works them out on its own (as the engine benchmark times one arm)."""
    _shared.first = None


@kernel
def _put_columns(lay, block_at, blocks):
    """lay's columns block_at[j] onwards from blocks[j] [2, C, K] (today's values and the
    arm's at full effect): today's value and its change under the arm, written row by row in
    one pass."""
    for c in range(lay.shape[0]):
        for j in range(len(blocks)):
            layers = blocks[j]
            col = block_at[j]
            for k in range(layers.shape[2]):
                today = layers[0, c, k]
                lay[c, col + k, 0] = today
                lay[c, col + k, 1] = layers[1, c, k] - today


def _aligned_empty(shape: tuple[int, int], dtype) -> np.ndarray:
    """An array whose rows start on a 128-byte boundary, so that a row of 64 or 128 bytes is
    fetched whole."""
    itemsize = np.dtype(dtype).itemsize
    count = shape[0] * shape[1]
    raw = np.empty(count + 128 // itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % 128) // itemsize
    return raw[skip:skip + count].reshape(shape)


@kernel(inline=True)
def _reset_person(person, person_t, cohort0, i):
    """Person i's row as it is before a run (the event loop's set-up does this just before
    the person's first draws, while the row is at hand)."""
    for col in range(N_PERSON):
        person[i, col] = 0
    person[i, COHORT] = cohort0[i]
    person[i, HELD] = -1
    person[i, STAY_POOL] = -1
    person[i, QUEUED] = -1
    for col in range(N_PERSON_T):
        person_t[i, col] = 0.0
    person_t[i, DEATH_T] = math.inf
    person_t[i, LAST_DISCHARGE] = -math.inf


@kernel
def _reset(chunks, heads, evs):
    """Make the event list as it is before a run."""
    for k in range(chunks.shape[0]):  # the free list runs through every chunk
        chunks[k, NEXT] = k + 1
        chunks[k, FILL] = 0
    chunks[chunks.shape[0] - 1, NEXT] = -1
    for b in range(heads.shape[0]):
        heads[b] = -1
    for j in range(evs.shape[0]):
        evs[j] = 0


# Runs in one thread one after another (the arms and replications of a worker) keep their
# largest arrays, the people and the event list, for the next run of the same size: filling
# fresh memory costs the system a page fault every 4 KiB, about a tenth of a run of the
# default place. Places above this many people (England) give them back after each run.
REUSE_MAX_PEOPLE = 4_000_000
_spare = threading.local()


def _big_arrays(flow: FlowParams, heap_size: int, far_size: int, queue_size: int) -> dict:
    """The people, queues and event list for a run, reset; reused from the last run if same size."""
    n = flow.person_cohort.shape[0]
    n_pools = len(flow.pool_names)
    n_buckets = int(flow.horizon_days) // BUCKET_DAYS + 1
    n_chunks = far_size // CHUNK + n_buckets
    size = (n, n_pools, heap_size, n_chunks, queue_size, n_buckets)
    kept = getattr(_spare, "arrays", None)
    if kept is not None and kept[0] == size:
        big = kept[1]
    else:
        _spare.arrays = None
        big = dict(
            person=_aligned_empty((n, N_PERSON), np.int32),
            person_t=_aligned_empty((n, N_PERSON_T), np.float64),
            queue=np.empty((n_pools, queue_size, 2), dtype=np.int64),
            queue_t=np.empty((n_pools, queue_size)),
            # See the event list section.
            ev=(np.empty(heap_size), np.empty((heap_size, 4), dtype=np.int64),
                np.empty((n_chunks, CHUNK)), np.empty((n_chunks, CHUNK, 4), dtype=np.int64),
                np.empty((n_chunks, 2), dtype=np.int64), np.empty(n_buckets, dtype=np.int64),
                np.empty(7, dtype=np.int64),
                np.empty(heap_size), np.empty((heap_size, 4), dtype=np.int64),
                np.empty(heap_size + 1, dtype=np.int64)))
        if n <= REUSE_MAX_PEOPLE:
            _spare.arrays = (size, big)
    ev = big["ev"]
    _reset(ev[4], ev[5], ev[6])  # the people are reset by _simulate
    return big


def _state_arrays(flow: FlowParams, heap_size: int, far_size: int, queue_size: int,
                  log_rows: int) -> dict:
    """State and result arrays for one attempt at a run: the people and event list reset,
    the rest fresh."""
    n = flow.person_cohort.shape[0]
    n_pools = len(flow.pool_names)
    n_years = flow.n_years
    pools = np.zeros((n_pools, N_POOL), dtype=np.int64)
    pools[:, KIND_OF_POOL] = flow.pool_kind
    pools[:, CAP] = flow.capacity[:, 0]
    pool_f = np.zeros((n_pools, N_POOL_F))
    pool_f[:, MEAN_DAYS] = flow.pool_mean_days
    pool_f[:, MAX_DAYS] = flow.pool_max_days
    n_places = len(flow.age_band_names) + len(flow.cluster_names) + len(flow.forum_names)
    return dict(
        **_big_arrays(flow, heap_size, far_size, queue_size),
        pools=pools, pool_f=pool_f,
        si=np.zeros(8, dtype=np.int64), sf=np.zeros(2),
        counts=np.zeros((n_years, C_PATHWAY + 4)), places=np.zeros((n_years, n_places)),
        pool_year=np.zeros((n_years, 4, n_pools)), los_hist=np.zeros((n_years, LOS_BINS)),
        daily=np.zeros((int(round(flow.horizon_days)), 2 * n_pools + 1)),
        log=np.full((log_rows, N_EP), np.nan),
        rows=np.full(n if log_rows > 0 else 0, -1, dtype=np.int64),
    )


def _result(flow: FlowParams, s: dict, log_episodes: bool) -> RunResult:
    n_age, n_clusters = len(flow.age_band_names), len(flow.cluster_names)
    n_pools = len(flow.pool_names)
    c = np.ascontiguousarray
    places, pool_year, daily = s["places"], s["pool_year"], s["daily"]
    return RunResult(
        counters=c(s["counts"][:, :C_PATHWAY]),
        admissions_by_age=c(places[:, :n_age]),
        admissions_by_cluster=c(places[:, n_age:n_age + n_clusters]),
        admissions_by_forum=c(places[:, n_age + n_clusters:]),
        pathways=c(s["counts"][:, C_PATHWAY:]),
        diverted_by_pool=c(pool_year[:, PY_DIVERTED]),
        pool_days=c(pool_year[:, PY_DAYS]),
        pool_episodes=c(pool_year[:, PY_EPISODES]),
        pool_queue_days=c(pool_year[:, PY_QUEUE_DAYS]),
        los_hist=s["los_hist"],
        daily_occupancy=c(daily[:, :n_pools]),
        daily_queue=c(daily[:, n_pools:2 * n_pools]),
        daily_delayed=c(daily[:, 2 * n_pools]),
        events=int(s["si"][EVENTS]),
        episodes=s["log"][: s["si"][N_ROWS]].copy() if log_episodes else None,
    )


def _initial_sizes(flow: FlowParams, log_episodes: bool) -> tuple[int, int, int, int]:
    """First guesses of the heap, far-event, queue and episode-log sizes (grown if too small).

    Far events are about two per person (the next crisis and death); the heap size is also
    the room of the run, which holds one bucket's days of them; arrays made with np.empty
    take memory only where they are written.
    """
    n = flow.person_cohort.shape[0]
    heap_size = n // 4 + 4096
    far_size = 3 * n + int(flow.pool_initial.sum()) + 4096
    queue_size = 1024 + n // 50
    log_rows = max(1024, int(n * flow.n_years * 2)) if log_episodes else 0
    return heap_size, far_size, queue_size, log_rows


def run(flow: FlowParams, seed: int, log_episodes: bool = False,
        attendances_at_once: bool = True) -> RunResult:
    """Run the fast engine once; same contract as `sim.engine_reference.run`.

    *attendances_at_once* False sends every crisis through the event list (see
    `_schedule_crisis`); the results are the same either way, which a test checks.
    """
    f = _flow_arrays(flow, int(seed))
    f["il"][I_CHAIN] = int(attendances_at_once)
    first = _shared_first_draws(flow, int(seed), f["il"])
    heap_size, far_size, queue_size, log_rows = _initial_sizes(flow, log_episodes)
    while True:
        s = _state_arrays(flow, heap_size, far_size, queue_size, log_rows)
        status = _simulate(
            s["person"], s["person_t"], f["cohort0"], first, f["home_place"], s["pools"], s["pool_f"],
            s["queue"],
            s["queue_t"], s["ev"], s["si"], s["sf"], f["lay"], f["coh"], f["fl"],
            f["il"], (f["g"], f["r"], f["growth_m"], f["ramp_table"]), f["capacity"], f["initial"],
            s["counts"], s["places"], s["pool_year"], s["los_hist"], s["daily"],
            s["log"], s["rows"])
        if status == OK and log_episodes and f["il"][I_CHAIN] == 1:
            # Attendances counted at once wrote their rows early: put the rows in time order,
            # the reference engine's. Two crises at the same instant would keep the order of
            # writing, which is not the reference's: then the run is done again without.
            log = s["log"][: s["si"][N_ROWS]]
            order = np.argsort(log[:, 3], kind="stable")
            log[:] = log[order]
            if np.any(log[1:, 3] == log[:-1, 3]):
                status = CRISIS_TIE
        if status == OK:
            return _result(flow, s, log_episodes)
        if status == CRISIS_TIE:
            f["il"][I_CHAIN] = 0
            continue
        # Too small: the run is deterministic, so running it again with more room changes
        # nothing but the room.
        if status == HEAP_FULL:
            heap_size *= 2
            far_size *= 2
        elif status == QUEUE_FULL:
            queue_size *= 2
        else:
            log_rows *= 2
