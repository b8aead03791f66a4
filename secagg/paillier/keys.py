"""Paillier key pairs: generation, primality checking and public-key validation.

Security property: a key pair made here has two distinct probable primes of equal size
(a false "prime" passes with probability below 2^-100 even for adversarially chosen
inputs, Baillie-PSW plus random-base Miller-Rabin), and a public key received from
another party is used only after :func:`validate_public_key` accepts it: the right size,
odd, not a perfect power and free of prime factors below 2^20, so a malformed modulus
cannot turn encryption into something the sender's peers could invert.

Keys are plain integers;
:meth:`PrivateKey.to_phe <secagg.paillier.keys.PrivateKey.to_phe>` converts to
python-paillier (``phe``) objects for interoperation (a ciphertext made here decrypts
with phe's private key).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, cached_property

import gmpy2
from phe import paillier as phe_paillier

from secagg.errors import ConfigurationError, CryptoError, InputError, InvalidPublicKeyError
from secagg.primitives.entropy import Entropy, system_entropy

PRODUCTION_KEY_BITS: tuple[int, ...] = (2048, 3072)  # the only sizes accepted by default
DEFAULT_KEY_BITS = 2048
MILLER_RABIN_ROUNDS = 40  # error below 4^-40 = 2^-80 per call even for adversarial input
SMALL_FACTOR_BITS = 20
# Trial division by every prime below 2^20 at once: one gcd of n with their product
# (82,025 primes, a 1.5-Mbit number) after reducing that product mod n. Measured with
# gmpy2 2.3 / GMP 6.3 on a shared 2-core x86-64 VM (median, quiet to loaded): 1.0-1.6 ms
# for a 2048-bit n, 1.4-2.3 ms for a 3072-bit n. The cost grows linearly with the bound:
# 2^21 measured 1.9-3.3 ms and 2.4-4.8 ms (over the ~3 ms budget for 3072 bits), 2^22
# 4.3-6.7 ms and 7.0-9.8 ms. Building the product takes ~30 ms, so it is made on first
# use (and cached), not at import.
SMALL_FACTOR_BOUND = 1 << SMALL_FACTOR_BITS


def _product_tree(values: list[int]) -> gmpy2.mpz:
    """Product of ``values`` by pairwise multiplication (balanced operands, fast in GMP)."""
    layer = [gmpy2.mpz(v) for v in values] or [gmpy2.mpz(1)]
    while len(layer) > 1:
        paired = [layer[i] * layer[i + 1] for i in range(0, len(layer) - 1, 2)]
        if len(layer) % 2:
            paired.append(layer[-1])
        layer = paired
    return layer[0]


def _primes_below(bound: int) -> list[int]:
    """Every prime below ``bound`` by a sieve of Eratosthenes."""
    if bound < 3:
        return []
    sieve = bytearray([1]) * bound
    sieve[0] = sieve[1] = 0
    for p in range(2, math.isqrt(bound - 1) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, bound, p)))
    return [i for i, is_prime in enumerate(sieve) if is_prime]


@cache
def _small_primes_product() -> gmpy2.mpz:
    """The product of all primes below :data:`SMALL_FACTOR_BOUND` (cached)."""
    if hasattr(gmpy2, "primorial"):  # gmpy2 >= 2.1: product of the primes <= its argument
        return gmpy2.primorial(SMALL_FACTOR_BOUND - 1)
    return _product_tree(_primes_below(SMALL_FACTOR_BOUND))


def _has_small_factor(value: gmpy2.mpz) -> bool:
    """True when ``value`` (> 1) has a prime factor below :data:`SMALL_FACTOR_BOUND`.

    A prime below the bound is its own small factor; callers handle those first.
    """
    # gcd(v, P) = gcd(v, P mod v); reducing first is faster in GMP than one unbalanced gcd.
    return bool(gmpy2.gcd(value, _small_primes_product() % value) != 1)


def _random_below(bound: int, entropy: Entropy) -> int:
    """Uniform integer in [0, bound) by rejection sampling (no modulo bias)."""
    nbytes = (bound.bit_length() + 7) // 8
    excess = 8 * nbytes - bound.bit_length()
    while True:
        value = int.from_bytes(entropy(nbytes), "big") >> excess
        if value < bound:
            return value


def is_probable_prime(
    x: int, rounds: int = MILLER_RABIN_ROUNDS, entropy: Entropy = system_entropy
) -> bool:
    """True when ``x`` is (with overwhelming probability) a positive prime.

    Baillie-PSW (no known counterexample) and then ``rounds`` Miller-Rabin tests with
    bases drawn from ``entropy``, so composites built to fool fixed bases (Arnault,
    Carmichael numbers, Fermat pseudoprimes) are rejected. Zero, one and negative
    numbers are not prime. Numbers with a prime factor below 2^20 are refused first, by
    one gcd (~1 ms). Raises InputError for a non-integer ``x`` (bool included).
    """
    if isinstance(x, bool) or not isinstance(x, (int, gmpy2.mpz)):
        raise InputError(f"primality is defined for integers, got {type(x).__name__}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ConfigurationError(f"rounds must be a non-negative integer, got {rounds!r}")
    if x < 2:
        return False
    value = gmpy2.mpz(x)
    if value < SMALL_FACTOR_BOUND:
        return bool(gmpy2.is_prime(value))  # exact below 2^64 in GMP
    if _has_small_factor(value):  # a factor below 2^20, found by one gcd
        return False
    if not gmpy2.is_strong_bpsw_prp(value):
        return False
    for _ in range(rounds):
        base = 2 + _random_below(int(value) - 3, entropy)
        if not gmpy2.is_strong_prp(value, base):
            return False
    return True


@dataclass(frozen=True)
class PublicKey:
    """A Paillier public key with g = n + 1. Only :func:`validate_public_key` makes one
    from untrusted input."""

    n: int

    @cached_property
    def n_mpz(self) -> gmpy2.mpz:
        return gmpy2.mpz(self.n)

    @cached_property
    def n_square(self) -> gmpy2.mpz:
        return self.n_mpz * self.n_mpz

    @property
    def bits(self) -> int:
        """Bit length of n."""
        return self.n.bit_length()

    @property
    def ciphertext_bytes(self) -> int:
        """Fixed width of one ciphertext (an element of Z_{n^2}) on the wire."""
        return (2 * self.bits + 7) // 8

    def to_bytes(self) -> bytes:
        """n big-endian in exactly bits/8 bytes (sizes are multiples of 8 bits)."""
        return self.n.to_bytes((self.bits + 7) // 8, "big")

    def to_phe(self) -> phe_paillier.PaillierPublicKey:
        return phe_paillier.PaillierPublicKey(self.n)


@dataclass(frozen=True)
class PrivateKey:
    """The factorisation of n; held by the key holder only, never by the server."""

    public: PublicKey
    p: int = field(repr=False)
    q: int = field(repr=False)

    def __post_init__(self) -> None:
        if self.p * self.q != self.public.n or self.p == self.q:
            raise CryptoError("private key does not factor the public modulus")

    def __repr__(self) -> str:  # never print the factors
        return f"PrivateKey(bits={self.public.bits})"

    def to_phe(self) -> phe_paillier.PaillierPrivateKey:
        return phe_paillier.PaillierPrivateKey(self.public.to_phe(), self.p, self.q)


def validate_public_key(n: int, allowed_bits: tuple[int, ...] = PRODUCTION_KEY_BITS) -> PublicKey:
    """Check a modulus received from another party and wrap it as a :class:`PublicKey`.

    Checks: exact bit length in ``allowed_bits`` (2048 or 3072 unless a test passes
    smaller sizes explicitly), odd, not a perfect power, no prime factor below 2^20 (one
    gcd with the product of those primes, ~2 ms). These cannot prove n = pq, but they
    refuse every cheap malformed modulus.
    Raises InvalidPublicKeyError.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise InvalidPublicKeyError("modulus must be a positive integer")
    if n.bit_length() not in allowed_bits:
        raise InvalidPublicKeyError(
            f"modulus of {n.bit_length()} bits; accepted sizes are {allowed_bits}"
        )
    value = gmpy2.mpz(n)
    if value % 2 == 0:
        raise InvalidPublicKeyError("modulus is even")
    if gmpy2.is_power(value):
        raise InvalidPublicKeyError("modulus is a perfect power")
    if _has_small_factor(value):
        raise InvalidPublicKeyError(f"modulus has a prime factor below 2^{SMALL_FACTOR_BITS}")
    return PublicKey(n)


def _random_prime(bits: int, entropy: Entropy) -> int:
    # Top two bits set so that p * q has exactly 2 * bits bits.
    while True:
        start = int.from_bytes(entropy((bits + 7) // 8), "big") >> (8 * ((bits + 7) // 8) - bits)
        start |= (3 << (bits - 2)) | 1
        candidate = int(gmpy2.next_prime(start))
        if candidate.bit_length() == bits and is_probable_prime(candidate, entropy=entropy):
            return candidate


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS,
    entropy: Entropy = system_entropy,
    *,
    allowed_bits: tuple[int, ...] = PRODUCTION_KEY_BITS,
) -> PrivateKey:
    """Generate a Paillier key pair with an n of exactly ``bits`` bits.

    The primes are independent, of equal size, and at least 2^(bits/2 - 100) apart (so
    Fermat's method cannot factor n). Raises ConfigurationError for a size outside
    ``allowed_bits``.
    """
    if bits not in allowed_bits or bits % 16:
        raise ConfigurationError(f"key size {bits} not in {allowed_bits}")
    half = bits // 2
    while True:
        p = _random_prime(half, entropy)
        q = _random_prime(half, entropy)
        if abs(p - q) < (1 << (half - 100)) or math.gcd(p * q, (p - 1) * (q - 1)) != 1:
            continue
        public = validate_public_key(p * q, allowed_bits)
        return PrivateKey(public=public, p=p, q=q)
