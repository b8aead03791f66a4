"""Generate tests/vectors/kat.json: known answers for the PRG, both bit packings and messages.

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
from secagg.masking.messages import AdvertiseKeys, MaskedInput
from secagg.primitives.prg import expand


def main() -> None:
    seed = bytes(range(16))
    prg = expand(seed, 8, 22, b"kat-context")
    values = np.array([0, 1, 2**22 - 1, 12345, 2**21, 7, 0, 4194303, 99], dtype=np.uint32)
    advertise = AdvertiseKeys(bytes(32), 3, 7, bytes([1]) * 32, bytes([2]) * 32)
    masked = MaskedInput.pack(bytes([9]) * 32, 3, 7, 5, np.array([0, 31, 1], dtype=np.uint32))
    # 40 elements: two columns, and 24 zero padding elements in the last rows.
    column_values = np.arange(40, dtype=np.uint32) * np.uint32(104729) % np.uint32(2**22)
    out = {
        "prg": {"seed": seed.hex(), "context": b"kat-context".hex(), "bits": 22, "n": 8,
                "values": [int(v) for v in prg]},
        "bitpack": {"bits": 22, "values": [int(v) for v in values],
                    "packed": pack(values, 22).hex()},
        "columnpack": {"bits": 22, "values": [int(v) for v in column_values],
                       "packed": columnpack.pack(column_values, 22).hex()},
        "advertise_keys": advertise.encode().hex(),
        "masked_input": masked.encode().hex(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
