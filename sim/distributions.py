"""Sampling by inversion from one uniform, shared by both engines and the parameter draws."""

import math

from sim.jit import jit, kernel


@jit
def normal_ppf(p):
    """Inverse of the standard normal CDF (Wichura 1988, AS241 PPND16; relative error 1e-16).

    Returns -inf at 0, inf at 1 and nan outside [0, 1].
    """
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        return math.nan
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                    + 67265.770927008700853) * r + 45921.953931549871457) * r
                  + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
        den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0)
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r = r - 1.6
        num = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
        den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    else:
        r = r - 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
        den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    value = num / den
    return -value if q < 0.0 else value


@jit
def exponential(u, mean):
    """Exponential with the given mean, by inversion."""
    return -mean * math.log(u)


@kernel(inline=True)
def lognormal_from_mean(u, mean, sigma):
    """Lognormal with the given mean and log-scale sigma, by inversion (pasted into its
    callers: the fast engine draws a stay at every admission)."""
    mu = math.log(mean) - 0.5 * sigma * sigma
    return math.exp(mu + sigma * normal_ppf(u))


@jit
def mixed_exponential(u_branch, u_time, short_share, short_mean, long_mean):
    """Harrison-Millard stay: short-stay compartment with chance *short_share*, else long-stay."""
    if u_branch < short_share:
        return exponential(u_time, short_mean)
    return exponential(u_time, long_mean)


@jit
def choose(u, probs):
    """Index k such that u falls in the k-th slice of the cumulative *probs*."""
    acc = 0.0
    last = 0
    for k in range(probs.shape[0]):
        if probs[k] > 0.0:
            last = k
        acc += probs[k]
        if u < acc:
            return k
    return last
