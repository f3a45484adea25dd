"""Hashes per share from difficulty/target, and the share-based hashrate estimator.

PROTOCOLS.md §12. ``H(share)`` is the expected number of hash attempts behind
one share at the stated difficulty/target; summing H over accepted shares and
dividing by the window gives the hashrate (H/s; Sol/s for Equihash).

The 90 % interval treats the share count N in the window as Poisson: the exact
(Garwood) interval for the mean count is
``[chi2(alpha/2; 2N) / 2, chi2(1 - alpha/2; 2N + 2) / 2]``, and the hashrate
interval is the point estimate scaled by ``bound / N`` (for N = 0 the upper
bound uses the mean H supplied by the caller). Both degrees of freedom are
even, and for even ``k = 2m`` the chi-square CDF has the closed form
``P(X <= x) = 1 - exp(-x/2) * sum_{j<m} (x/2)^j / j!`` — so the quantile is
found exactly by bisection, no scipy needed. Odd ``k`` (not used by the
estimator) and very large ``k`` (> 2000, i.e. > 1000 shares, where the exact
sum gets slow and Wilson–Hilferty is accurate to well under 0.1 %) use the
Wilson–Hilferty approximation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

# §12.1 constants
TWO_32 = 2 ** 32
TWO_48 = 2 ** 48
TWO_64 = 2 ** 64
TWO_256 = 2 ** 256
SHA256D_DIFF1_DIVISOR = 0xFFFF            # diff-1 target 0xFFFF * 2^208
SCRYPT_DEFAULT_MULTIPLIER = 65536         # pool convention: D * 2^32 / 65536
CRYPTONOTE_MAX_32 = 0xFFFFFFFF
CRYPTONOTE_MAX_64 = 0xFFFFFFFFFFFFFFFF
ZCASH_POW_LIMIT_SOLUTIONS = 8192          # powLimit 0x0007ff..ff: D(powLimit) = 1 -> 8192 solutions

FAMILY_SHA256D = "sha256d"
FAMILY_SCRYPT = "scrypt"
FAMILY_CRYPTONOTE = "cryptonote"
FAMILY_ETHASH = "ethash"
FAMILY_ETHASH_STRATUM = "ethereumstratum"  # set_difficulty D, same base as SHA-256d
FAMILY_KAWPOW = "kawpow"
FAMILY_EQUIHASH = "equihash"
FAMILY_KHEAVYHASH = "kheavyhash"
FAMILY_SV2 = "stratum-v2"
FAMILY_GETWORK = "getwork"

# Target byte orders: "be256" 256-bit big-endian hex, "le256" little-endian,
# "boundary" Ethash boundary (BE, may be short), "cryptonote" 4/8-byte LE.
TARGET_FORMATS = ("be256", "le256", "boundary", "cryptonote")


def sha256d_hashes(difficulty: float) -> float:
    """SHA-256d stratum: D * 2^48 / 0xFFFF (≈ D * 2^32)."""
    return difficulty * TWO_48 / SHA256D_DIFF1_DIVISOR


def scrypt_hashes(difficulty: float, multiplier: float = SCRYPT_DEFAULT_MULTIPLIER) -> float:
    """scrypt stratum: D * 2^32 / multiplier (default 65536 -> D * 65536)."""
    return difficulty * TWO_32 / multiplier


def cryptonote_difficulty(target_hex: str) -> float | None:
    """xmrig target (4- or 8-byte little-endian hex) -> difficulty = expected hashes."""
    try:
        raw = bytes.fromhex(target_hex)
    except (ValueError, TypeError):
        return None
    value = int.from_bytes(raw, "little")
    if value == 0:
        return None
    if len(raw) == 4:
        return CRYPTONOTE_MAX_32 / value
    if len(raw) == 8:
        return CRYPTONOTE_MAX_64 / value
    return None


def target_int(target_hex: str, target_format: str) -> int | None:
    """Integer value of a 256-bit target; None if unparsable or zero."""
    if not isinstance(target_hex, str):
        return None
    text = target_hex[2:] if target_hex[:2] in ("0x", "0X") else target_hex
    if not text or len(text) > 64:
        return None
    try:
        raw = bytes.fromhex(text.rjust(64, "0") if target_format == "boundary" else text)
    except ValueError:
        return None
    value = int.from_bytes(raw, "little" if target_format == "le256" else "big")
    return value or None


def target_hashes(target_hex: str, target_format: str) -> float | None:
    """2^256 / T for 256-bit targets (be256, le256, boundary); CryptoNote via its difficulty."""
    if not isinstance(target_hex, str):
        return None
    return _target_hashes(target_hex, target_format)


@functools.lru_cache(maxsize=1024)
def _target_hashes(target_hex, target_format):
    """target_hashes of text arguments, remembered: a pool repeats one target for many
    jobs, and sessions compare the target in force with each new one."""
    if target_format == "cryptonote":
        return cryptonote_difficulty(target_hex)
    value = target_int(target_hex, target_format)
    return None if value is None else TWO_256 / value


def hashes_per_share(family: str, difficulty: float | None = None,
                     target: str | None = None, target_format: str | None = None,
                     scrypt_multiplier: float = SCRYPT_DEFAULT_MULTIPLIER) -> float | None:
    """H(share) for one share (§12.1). A target, when given, wins over a difficulty."""
    if target is not None and target_format in TARGET_FORMATS:
        hashes = target_hashes(target, target_format)
        if hashes is not None:
            return hashes
    if difficulty is None or not difficulty > 0:
        return None
    if family == FAMILY_SCRYPT:
        return scrypt_hashes(difficulty, scrypt_multiplier)
    if family in (FAMILY_CRYPTONOTE, FAMILY_ETHASH):
        return float(difficulty)
    if family == FAMILY_EQUIHASH:
        return difficulty * ZCASH_POW_LIMIT_SOLUTIONS
    # SHA-256d, EthereumStratum/1.0.0, kHeavyHash (medium confidence), KawPow pool D, default
    return sha256d_hashes(difficulty)


def difficulty_from_target(target: str, target_format: str, family: str) -> float | None:
    """A pool-style difficulty for a target, in the family's own convention.

    CryptoNote and Ethash: expected hashes. Equihash: relative to powLimit.
    Other 256-bit targets: Bitcoin-style (diff-1 = 2^48/0xFFFF hashes).
    """
    hashes = target_hashes(target, target_format)
    if hashes is None:
        return None
    if target_format in ("cryptonote", "boundary") or family in (FAMILY_CRYPTONOTE, FAMILY_ETHASH):
        return hashes
    if family == FAMILY_EQUIHASH:
        return hashes / ZCASH_POW_LIMIT_SOLUTIONS
    return hashes / (TWO_48 / SHA256D_DIFF1_DIVISOR)


# ---------------------------------------------------------------- chi-square

WILSON_HILFERTY_MIN_EVEN_DOF = 2000

@functools.lru_cache(maxsize=64)
def _logs(m: int) -> tuple:
    """log(j) for j < m (index 0 unused): a quantile search sums the same terms ~50 times."""
    return (0.0, *(math.log(j) for j in range(1, m)))


def _chi2_cdf_even(x: float, dof: int) -> float:
    """Exact CDF of chi-square with even `dof` at x (Poisson-sum form, log-space terms)."""
    if x <= 0:
        return 0.0
    half = x / 2.0
    log_half = math.log(half)
    m = dof // 2
    logs = _logs(m)
    log_term = -half          # log of exp(-x/2) * (x/2)^0 / 0!
    total = 0.0
    for j in range(m):
        if j:
            log_term += log_half - logs[j]
        total += math.exp(log_term)
    return max(0.0, min(1.0, 1.0 - total))


def chi2_quantile(p: float, dof: int) -> float:
    """Quantile of the chi-square distribution (exact for even dof, else Wilson–Hilferty)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if dof <= 0:
        raise ValueError(f"dof must be positive, got {dof}")
    if dof % 2 or dof > WILSON_HILFERTY_MIN_EVEN_DOF:
        z = NormalDist().inv_cdf(p)
        c = 2.0 / (9.0 * dof)
        return max(0.0, dof * (1.0 - c + z * math.sqrt(c)) ** 3)
    lo, hi = 0.0, max(1.0, dof + 20.0 * math.sqrt(2.0 * dof))
    while _chi2_cdf_even(hi, dof) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _chi2_cdf_even(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


@functools.lru_cache(maxsize=4096)
def poisson_interval(count: int, confidence: float = 0.90) -> tuple[float, float]:
    """Exact two-sided interval for a Poisson mean given an observed `count`
    (remembered: every hit of a flow asks again, with counts that repeat)."""
    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else chi2_quantile(alpha / 2.0, 2 * count) / 2.0
    high = chi2_quantile(1.0 - alpha / 2.0, 2 * count + 2) / 2.0
    return low, high


@dataclass
class HashrateEstimate:
    """Share-based hashrate over a window; hashrate_hs is in hashes (or solutions) per second."""

    hashrate_hs: float
    low_hs: float
    high_hs: float
    shares: int          # shares counted in the window
    interval_s: float
    confidence: float
    hashes: float = 0.0  # sum of H over the counted shares (what a ledger adds up)


def estimate_hashrate(share_hashes, interval_s: float, confidence: float = 0.90,
                      fallback_hashes_per_share: float | None = None) -> HashrateEstimate | None:
    """Estimate hashrate from accepted shares' H values over `interval_s` seconds (§12.2).

    Point estimate = sum(H) / interval. Interval: Poisson on the share count,
    scaled by the mean H. With no shares the point and lower bound are 0 and
    the upper bound needs `fallback_hashes_per_share`; without it, None.
    Returns None for a non-positive interval.
    """
    if not interval_s > 0 or not 0.0 < confidence < 1.0:
        return None
    values = [float(h) for h in share_hashes if h is not None and h > 0]
    count = len(values)
    low_n, high_n = poisson_interval(count, confidence)
    if count == 0:
        if fallback_hashes_per_share is None:
            return None
        return HashrateEstimate(0.0, 0.0, high_n * fallback_hashes_per_share / interval_s,
                                0, interval_s, confidence)
    total = sum(values)
    return interval_estimate(count, total, interval_s, confidence)


def interval_estimate(count: int, hashes: float, interval_s: float,
                      confidence: float = 0.90) -> HashrateEstimate | None:
    """Estimate from `count` shares worth `hashes` in total over `interval_s` (count >= 1)."""
    if count < 1 or not interval_s > 0:
        return None
    low_n, high_n = poisson_interval(count, confidence)
    mean_h = hashes / count
    return HashrateEstimate(hashes / interval_s, low_n * mean_h / interval_s,
                            high_n * mean_h / interval_s, count, interval_s, confidence, hashes)


@dataclass
class ShareTally:
    """Accepted shares folded as they arrive: constant state for a flow of any length.

    The window runs from the first to the last accepted share's submit time
    (§12.2). The share that opens the window is not counted in it: given the
    first arrival, the later arrivals of a Poisson process in (first, last]
    are what the window measures, so counting the opener too would bias the
    rate up by N/(N-1) (+11 % at 10 shares).

    When the session knows which difficulty was in force at every instant (it
    saw the jobs), each share also carries its *exposure*: the running
    integral of dt / H(t) since the session started. Shares then form a
    Poisson process of rate R * dE, so N shares over an exposure E give
    R = N / E with the exact Poisson interval, however often vardiff moved the
    difficulty. Without exposures (no jobs seen, e.g. getwork), the estimate
    falls back to sum(H) / window.
    """

    accepted: int = 0
    hashes: float = 0.0              # sum of H over all accepted shares
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    opener_hashes: float = 0.0       # H of the share that opens the window
    with_exposure: int = 0           # accepted shares that carried an exposure
    first_exposure: float = 0.0      # exposure at the first / last accepted share
    last_exposure: float = 0.0

    def add(self, ts_ns: int | None, hashes: float | None, exposure: float | None = None):
        if ts_ns is None or hashes is None or not hashes > 0:
            return
        self.accepted += 1
        self.hashes += hashes
        if exposure is not None:
            self.with_exposure += 1
        if self.first_ts_ns is None or ts_ns < self.first_ts_ns:
            self.first_ts_ns = ts_ns
            self.opener_hashes = hashes
            self.first_exposure = exposure or 0.0
        if self.last_ts_ns is None or ts_ns > self.last_ts_ns:
            self.last_ts_ns = ts_ns
            self.last_exposure = exposure or 0.0

    def estimate(self, confidence: float = 0.90) -> HashrateEstimate | None:
        """None until two accepted shares span a window."""
        if self.accepted < 2:
            return None
        interval_s = (self.last_ts_ns - self.first_ts_ns) / 1e9
        exposure = self.last_exposure - self.first_exposure
        if self.with_exposure == self.accepted and exposure > 0 and interval_s > 0:
            count = self.accepted - 1
            low_n, high_n = poisson_interval(count, confidence)
            rate = count / exposure
            return HashrateEstimate(rate, low_n / exposure, high_n / exposure, count,
                                    interval_s, confidence, rate * interval_s)
        return interval_estimate(self.accepted - 1, self.hashes - self.opener_hashes,
                                 interval_s, confidence)
