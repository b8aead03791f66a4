"""Reusing a key holder's Paillier key across rounds, under a rotation budget.

Generating a 2048-bit key pair costs the key holder about a second per round, more
than decrypting a large aggregate. A key holder that serves several rounds may keep
its key pair: Paillier stays IND-CPA under any number of encryptions (every ciphertext
carries fresh randomness), and each round's session binds the round number, so a
ciphertext of one round is refused in another.

What reuse costs is exposure: whoever obtains the private key decrypts the aggregate
of *every* round the key served (never an individual update: the key holder only
ever decrypts products of uploads). The rotation policy bounds that: a key pair serves
at most ``max_rounds`` rounds, then a fresh one replaces it, and a key is never used
past its budget (:class:`KeyBudgetError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from secagg.errors import ConfigurationError
from secagg.paillier.keys import DEFAULT_KEY_BITS, PRODUCTION_KEY_BITS, PrivateKey, generate_keypair
from secagg.primitives.entropy import Entropy, system_entropy


class KeyBudgetError(ConfigurationError):
    """A key pair was asked to serve more rounds than its rotation budget allows: every
    round it serves more widens what one stolen key decrypts."""


@dataclass(frozen=True)
class KeyPolicy:
    """How long one Paillier key pair may serve.

    Parameters
    ----------
    max_rounds: rounds one key pair may protect before it is replaced (>= 1; 1 means a
        fresh key every round, the old behaviour).
    key_bits: the modulus size (2048 or 3072).

    Raises ConfigurationError for values outside those ranges.
    """

    max_rounds: int = 100
    key_bits: int = DEFAULT_KEY_BITS

    def __post_init__(self) -> None:
        if isinstance(self.max_rounds, bool) or not isinstance(self.max_rounds, int) or \
                self.max_rounds < 1:
            raise ConfigurationError(f"max_rounds must be a positive integer, got "
                                     f"{self.max_rounds!r}")
        if self.key_bits not in PRODUCTION_KEY_BITS:
            raise ConfigurationError(f"key_bits must be one of {PRODUCTION_KEY_BITS}")


@dataclass
class KeyRing:
    """The key holder's current key pair and how many rounds it has served.

    :meth:`key_for_round` hands out the key pair for the next round, generating a fresh
    one when there is none yet or the current one has served ``policy.max_rounds``.
    ``generated`` counts the key pairs made, for the cost report.
    """

    policy: KeyPolicy = field(default_factory=KeyPolicy)
    entropy: Entropy = system_entropy
    _key: PrivateKey | None = field(default=None, init=False, repr=False)
    _served: int = field(default=0, init=False)
    generated: int = field(default=0, init=False)

    def key_for_round(self) -> PrivateKey:
        """The key pair the next round uses; rotates when the budget is spent."""
        if self._key is None or self._served >= self.policy.max_rounds:
            self._key = generate_keypair(self.policy.key_bits, self.entropy)
            self._served = 0
            self.generated += 1
        self._served += 1
        return self._key

    def use(self, key: PrivateKey) -> PrivateKey:
        """Count one more round for ``key``, which must be the ring's current key pair.

        Raises KeyBudgetError when it has already served ``policy.max_rounds`` rounds
        (a caller holding on to an old key instead of asking :meth:`key_for_round`).
        """
        if key is not self._key:
            raise KeyBudgetError("only the ring's current key pair may serve a round")
        if self._served >= self.policy.max_rounds:
            raise KeyBudgetError(
                f"this key pair has served its {self.policy.max_rounds} rounds: rotate it"
            )
        self._served += 1
        return key

    @property
    def rounds_left(self) -> int:
        """Rounds the current key pair may still serve (0 when a new one is due)."""
        return 0 if self._key is None else self.policy.max_rounds - self._served
