"""Raw primitives: X25519 + HKDF key agreement, AEAD, the mask PRG, Shamir sharing.

You probably want the protocols in :mod:`secagg` instead. These building blocks are
safe only when used the way the protocols use them (distinct labels per use, the
session id bound into every derivation, fresh seeds per round); each module states
the property it gives and nothing more.
"""

from secagg.primitives.aead import open_sealed, seal
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.entropy import seeded_entropy as seeded_entropy
from secagg.primitives.keyagreement import (
    KeyPair,
    Label,
    agree,
    check_public_key,
    check_public_keys,
    derive_key,
    hkdf_sha256,
    same_key,
)
from secagg.primitives.prg import expand, mask_dtype
from secagg.primitives.shamir import PRIME, Recovered, Share, reconstruct, recover, split

__all__ = [
    "PRIME",
    "Entropy",
    "KeyPair",
    "Label",
    "Recovered",
    "Share",
    "agree",
    "check_public_key",
    "check_public_keys",
    "derive_key",
    "expand",
    "hkdf_sha256",
    "mask_dtype",
    "open_sealed",
    "reconstruct",
    "recover",
    "same_key",
    "seal",
    "seeded_entropy",
    "split",
    "system_entropy",
]
