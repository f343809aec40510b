"""Counter-based random numbers: every draw is a pure function of (seed, stream, entity, draw).

No generator state travels through the code. The same person's k-th crisis gets the same
uniform in every arm, engine, worker and chunk, which is what makes common random numbers and
worker-count independence hold by construction. The mixer is SplitMix64's finaliser applied
to each key in turn (Steele, Lea and Flood 2014); tests check uniformity and independence.
"""

import zlib

import numpy as np

from sim.jit import jit, kernel

# Named streams. A new stream takes a new number; existing numbers never change.
POPULATION = 1
PARAMETERS = 2
DEATH = 3
CRISIS_TIME = 4
CRISIS_TYPE = 5
DIVERSION = 6
ADMISSION = 7
LENGTH_OF_STAY = 8
IN_HOSPITAL_DEATH = 9
PATHWAY = 10
ASSESSMENT = 11
DOWNSTREAM_DURATION = 12
DOWNSTREAM_OUTCOME = 13
END_OF_LIFE = 14
INITIAL_OCCUPANCY = 15
REPLICATION = 16
N_STREAMS = 17  # one more than the largest stream number

STREAMS = {
    "population": POPULATION,
    "parameters": PARAMETERS,
    "death": DEATH,
    "crisis_time": CRISIS_TIME,
    "crisis_type": CRISIS_TYPE,
    "diversion": DIVERSION,
    "admission": ADMISSION,
    "length_of_stay": LENGTH_OF_STAY,
    "in_hospital_death": IN_HOSPITAL_DEATH,
    "pathway": PATHWAY,
    "assessment": ASSESSMENT,
    "downstream_duration": DOWNSTREAM_DURATION,
    "downstream_outcome": DOWNSTREAM_OUTCOME,
    "end_of_life": END_OF_LIFE,
    "initial_occupancy": INITIAL_OCCUPANCY,
    "replication": REPLICATION,
}

_MASK = (1 << 64) - 1


@jit
def _mix(x):
    x = np.uint64(x)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# The largest double below 1.
_BELOW_ONE = 1.0 - 2.0**-53


@jit
def unit_interval(h):
    """Map 64 random bits to a double strictly inside (0, 1): the centre of one of 2**53 slots.

    The top slot's centre, (2**53 - 0.5) / 2**53, is not a double and rounds up to 1.0; it is
    returned as the largest double below 1 instead, so that log(u) and log(1 - u) stay finite.
    """
    u = (np.float64(np.uint64(h) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
    return min(u, _BELOW_ONE)


@jit
def stream_key(seed, stream):
    """The part of `uniform` that depends only on (seed, stream): work it out once per run."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    h = _mix(np.uint64(seed) + golden)
    return _mix(h ^ (np.uint64(stream) * golden))


@kernel(inline=True)
def entity_key(key, entity):
    """The part of `keyed_uniform` that depends only on (stream key, entity).

    A run of one person's crises draws from the same streams again and again: the fast
    engine works this out once per run, and each draw then costs one round of the mixer.
    """
    golden = np.uint64(0x9E3779B97F4A7C15)
    return _mix(np.uint64(key) ^ (np.uint64(entity) + golden))


@kernel(inline=True)
def entity_uniform(ekey, draw):
    """`keyed_uniform` for an entity key from `entity_key`: the same number."""
    return unit_interval(_mix(np.uint64(ekey) ^ (np.uint64(draw) * np.uint64(0xD6E8FEB86659FD93))))


@kernel(inline=True)
def keyed_uniform(key, entity, draw):
    """`uniform` for a stream key from `stream_key` (a uint64, or its bits as an int64).

    Pasted into its callers (``inline``): the fast engine draws at some thirty places.
    """
    return entity_uniform(entity_key(key, entity), draw)


@jit
def uniform(seed, stream, entity, draw):
    """Return the uniform in (0, 1) for (seed, stream, entity, draw); same answer everywhere."""
    return keyed_uniform(stream_key(seed, stream), entity, draw)


@jit
def uniforms(seed, stream, entities, draw):
    """Vector form of `uniform`: one draw for each entity."""
    out = np.empty(entities.shape[0], dtype=np.float64)
    for i in range(entities.shape[0]):
        out[i] = uniform(seed, stream, entities[i], draw)
    return out


def replication_seed(seed: int, replication: int) -> int:
    """Seed of one replication: a pure function of the run seed and the replication number.

    It fits in a signed 64-bit integer, which is what the engines take.
    """
    return int(_mix(np.uint64((int(seed) * 0x9E3779B97F4A7C15 + int(replication)) & _MASK))) & ((1 << 63) - 1)


def name_key(name: str) -> int:
    """Stable 32-bit key of a parameter name, so that parameter draws key on names."""
    return zlib.crc32(name.encode("utf-8"))


def parameter_uniform(seed: int, name: str, replication: int) -> float:
    """The uniform behind the PSA draw of parameter *name* in *replication*."""
    return float(uniform(np.uint64(seed & _MASK), PARAMETERS, name_key(name), replication))
