"""Packed Paillier aggregation: clients encrypt, the server multiplies, a key holder decrypts.

The protocol objects are the public API: :class:`PaillierConfig`, :class:`KeyHolder`,
:class:`PaillierClient`, :class:`PaillierServer`, with the transport interface of
:mod:`secagg.protocol.party` (and :func:`secagg.simulation.run_paillier_round` to run
them in process). The raw arithmetic (:mod:`.djn`, :mod:`.decrypt`, :mod:`.packing`,
:mod:`.keys`) is safe only as the protocol uses it. See ``docs/paillier.md``.
"""

from secagg.paillier.djn import Encryptor, ExponentMode, check_ciphertexts
from secagg.paillier.keys import (
    PRODUCTION_KEY_BITS,
    PrivateKey,
    PublicKey,
    generate_keypair,
    is_probable_prime,
    validate_public_key,
)
from secagg.paillier.packing import PackingConfig, pack_slots, unpack_slots
from secagg.paillier.protocol import (
    ClientStage,
    KeyHolder,
    KeyHolderStage,
    PaillierClient,
    PaillierServer,
    ServerStage,
)
from secagg.paillier.rotation import KeyBudgetError, KeyPolicy, KeyRing
from secagg.paillier.session import PaillierConfig, session_id

__all__ = [
    "PRODUCTION_KEY_BITS",
    "ClientStage",
    "Encryptor",
    "ExponentMode",
    "KeyBudgetError",
    "KeyHolder",
    "KeyHolderStage",
    "KeyPolicy",
    "KeyRing",
    "PackingConfig",
    "PaillierClient",
    "PaillierConfig",
    "PaillierServer",
    "PrivateKey",
    "PublicKey",
    "ServerStage",
    "check_ciphertexts",
    "generate_keypair",
    "is_probable_prime",
    "pack_slots",
    "session_id",
    "unpack_slots",
    "validate_public_key",
]
