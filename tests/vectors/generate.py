"""Generate tests/vectors/kat.json: known answers for the PRG, both bit packings, the
messages and a saved client state.

Provenance: produced by this script from fixed inputs with secagg at the commit that
added it; the PRG vector is also checked independently against AES-ECB in
tests/primitives/test_prg.py. Regenerate only when an encoding changes on purpose, and
bump the wire version when it does.

    python tests/vectors/generate.py > tests/vectors/kat.json
"""

from __future__ import annotations

import json

import numpy as np

from secagg import columnpack
from secagg.bitpack import pack
from secagg.codec import Header, MessageType
from secagg.masking.keytree import KeyTree
from secagg.masking.messages import (
    AdvertiseKeys,
    KeyBroadcast,
    MaskedInput,
    ShareKeys,
    UnmaskingRequest,
)
from secagg.masking.messages import SEALED_SHARE_BYTES
from secagg.paillier.messages import DecryptionRequest
from secagg.plain import PlainClient, PlainConfig
from secagg.primitives.prg import expand
from secagg.quantize import QuantizationConfig


def _counting(seed: bytes):  # noqa: ANN202 - deterministic bytes for the vectors only
    import hashlib

    state = {"i": 0}

    def entropy(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + state["i"].to_bytes(8, "big")).digest()
            state["i"] += 1
        return out[:n]

    return entropy


def vectors() -> dict:
    """Every known answer, computed from the fixed inputs below."""
    seed = bytes(range(16))
    prg = expand(seed, 8, 22, b"kat-context")
    values = np.array([0, 1, 2**22 - 1, 12345, 2**21, 7, 0, 4194303, 99], dtype=np.uint32)
    advertise = AdvertiseKeys(bytes(32), 3, 7, bytes([1]) * 32, bytes([2]) * 32)
    masked = MaskedInput.pack(bytes([9]) * 32, 3, 7, 5, np.array([0, 31, 1], dtype=np.uint32))
    # 40 elements: two columns, and 24 zero padding elements in the last rows.
    column_values = np.arange(40, dtype=np.uint32) * np.uint32(104729) % np.uint32(2**22)
    share_keys = ShareKeys(
        bytes([4]) * 32, 3, 7, bytes([5]) * 32, ((2, bytes([6]) * SEALED_SHARE_BYTES),)
    )
    # Client 7's list: the key digest, its own and two neighbours' keys, the tree paths.
    key_list = KeyBroadcast(
        bytes([3]) * 32,
        3,
        7,
        bytes([10]) * 32,
        ((2, bytes([11]) * 32, bytes([12]) * 32), (7, bytes([1]) * 32, bytes([2]) * 32),
         (9, bytes([13]) * 32, bytes([14]) * 32)),
        (),
        bytes([15]) * 192,  # key tree paths: here two of one 96-byte level each
    )
    # A key tree over clients 1, 3 and 5 of 5 (2 and 4 did not advertise).
    tree = KeyTree(5, {c: (bytes([c]) * 32, bytes([c + 100]) * 32) for c in (1, 3, 5)})
    request = UnmaskingRequest(bytes([4]) * 32, 3, 2, (1, 5), (6,))
    decryption = DecryptionRequest.from_values(
        Header(MessageType.PAILLIER_DECRYPTION_REQUEST, bytes([8]) * 32, 3, 0, 1),
        (1, 2, 4),
        [5, 2**60 + 1],
        8,
    )
    plain_config = PlainConfig(3, 2, QuantizationConfig(clip=1.0, bits=4, max_clients=3), 3)
    plain_client = PlainClient(
        plain_config, 2, np.array([1, 15, 1], dtype=np.uint32), entropy=_counting(b"kat")
    )
    saved_state = plain_client.save()
    plain_input = plain_client.start()
    out = {
        "prg": {"seed": seed.hex(), "context": b"kat-context".hex(), "bits": 22, "n": 8,
                "values": [int(v) for v in prg]},
        "bitpack": {"bits": 22, "values": [int(v) for v in values],
                    "packed": pack(values, 22).hex()},
        "columnpack": {"bits": 22, "values": [int(v) for v in column_values],
                       "packed": columnpack.pack(column_values, 22).hex()},
        "advertise_keys": advertise.encode().hex(),
        "masked_input": masked.encode().hex(),
        "key_broadcast": key_list.encode().hex(),
        "key_tree": {"root": tree.root.hex(), "path_3": tree.path(3).hex(),
                     "path_4": tree.path(4).hex()},
        "share_keys": share_keys.encode().hex(),
        "unmasking_request": request.encode().hex(),
        "paillier_decryption_request": decryption.encode().hex(),
        "plain_input": plain_input.hex(),
        "plain_client_state": saved_state.hex(),
    }
    return out


def main() -> None:
    print(json.dumps(vectors(), indent=2))


if __name__ == "__main__":
    main()
