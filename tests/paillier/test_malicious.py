"""The malicious-server mode of the Paillier backend: the key holder's key is signed, so
the server cannot substitute its own; uploads are signed, and the key holder decrypts
only the product it recomputed from at least min_uploads signed uploads."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from secagg.errors import (
    ConfigurationError,
    InvalidCiphertextError,
    SessionMismatchError,
    SignatureError,
    TooFewContributorsError,
)
from secagg.paillier import (
    KeyHolder,
    KeyHolderStage,
    PaillierClient,
    PaillierConfig,
    PaillierServer,
)
from secagg.paillier.messages import CiphertextsMessage, DecryptionRequest, PublicKeyMessage
from secagg.protocol.identity import Security, generate_cohort
from secagg.protocol.state import RestoreGuard
from secagg.quantize import QuantizationConfig

N = 5
MODEL = bytes(range(32))
QUANT = QuantizationConfig(bits=12, max_clients=N)
DIM = 40


@pytest.fixture
def r(key):  # noqa: ANN001, ANN201
    roster, identities = generate_cohort(range(1, N + 1))
    config = PaillierConfig(
        2,
        DIM,
        QUANT,
        tuple(range(1, N + 1)),
        security=Security.MALICIOUS,
        roster_digest=roster.digest,
    )
    rng = np.random.default_rng(0)
    inputs = {c: rng.integers(0, QUANT.levels, DIM + 1).astype(np.uint32) for c in range(1, N + 1)}
    clients = {
        c: PaillierClient(
            config,
            c,
            inputs[c],
            key=key if c == 1 else None,
            identity=identities[c],
            roster=roster,
            model_digest=MODEL,
        )
        for c in inputs
    }
    server = PaillierServer(config, roster=roster, model_digest=MODEL)
    server.receive(1, clients[1].start())
    key_message = server.close()[1]

    class R:
        pass

    out = R()
    out.config, out.clients, out.server, out.key_message = config, clients, server, key_message
    out.inputs, out.key, out.roster, out.identities = inputs, key, roster, identities
    return out


def _decode_request(r, data):  # noqa: ANN001, ANN202
    return DecryptionRequest.decode(
        data,
        count=r.config.ciphertexts,
        width=r.key.public.ciphertext_bytes,
        max_contributors=N,
        signed=True,
    )


def test_an_exact_sum_in_the_malicious_mode(r) -> None:
    for c, client in r.clients.items():
        r.server.receive(c, client.handle(r.key_message))
    (request,) = r.server.close().values()
    r.server.receive(1, r.clients[1].handle(request))
    r.server.close()
    assert np.array_equal(
        r.server.result.aggregate, sum(v.astype(np.uint64) for v in r.inputs.values())
    )


def test_an_unsigned_or_resigned_key_is_refused(r) -> None:
    message = PublicKeyMessage.decode(r.key_message, signed=True)
    for bad in (bytes(64), r.identities[2].sign(b"anything")):
        forged = replace(message, signature=bad).encode()
        with pytest.raises(SignatureError):
            PaillierClient(
                r.config, 3, r.inputs[3], identity=r.identities[3], roster=r.roster, model_digest=MODEL
            ).handle(forged)
        with pytest.raises(SignatureError):
            PaillierServer(r.config, roster=r.roster, model_digest=MODEL).receive(1, forged)


def test_an_upload_with_a_bad_signature_drops_its_sender(r) -> None:
    upload = r.clients[2].handle(r.key_message)
    message = CiphertextsMessage.decode(
        upload, count=r.config.ciphertexts, width=r.key.public.ciphertext_bytes, signed=True
    )
    with pytest.raises(SignatureError):
        r.server.receive(2, replace(message, signature=bytes(64)).encode())
    assert 2 in r.server.dropped and r.server.survivors == ()


def _uploads_and_request(r):  # noqa: ANN001, ANN202
    for c, client in r.clients.items():
        r.server.receive(c, client.handle(r.key_message))
    (data,) = r.server.close().values()
    return _decode_request(r, data)


def test_the_key_holder_refuses_a_product_that_is_not_the_signed_uploads(r) -> None:
    request = _uploads_and_request(r)
    # The server claims all five contributors but sends client 2's ciphertexts alone.
    lone = replace(request, blob=request.uploads[1][1])
    with pytest.raises(InvalidCiphertextError, match="signed uploads"):
        r.clients[1].handle(lone.encode())
    assert r.clients[1].key_holder.stage is KeyHolderStage.ABORTED


def test_the_key_holder_refuses_a_forged_acknowledgement(r) -> None:
    request = _uploads_and_request(r)
    uploads = list(request.uploads)
    uploads[2] = (bytes(64), uploads[2][1])
    with pytest.raises(SignatureError):
        r.clients[1].handle(replace(request, uploads=tuple(uploads)).encode())


def test_the_key_holder_refuses_too_few_signed_uploads(r) -> None:
    request = _uploads_and_request(r)
    keep = r.config.minimum - 1
    short = replace(
        request, contributors=request.contributors[:keep], uploads=request.uploads[:keep]
    )
    with pytest.raises(TooFewContributorsError):
        r.clients[1].handle(short.encode())


def test_a_client_given_another_model_cannot_take_part(r) -> None:
    # The model digest is in every party's session id: a target sent another model
    # (to make its update stand out) refuses the key holder's key.
    other = PaillierClient(
        r.config,
        3,
        r.inputs[3],
        identity=r.identities[3],
        roster=r.roster,
        model_digest=bytes(32),
    )
    with pytest.raises(SessionMismatchError):
        other.handle(r.key_message)
    with pytest.raises(SessionMismatchError):
        PaillierServer(r.config, roster=r.roster, model_digest=bytes(32)).receive(
            1, r.key_message
        )


def test_the_malicious_mode_needs_a_model_digest() -> None:
    roster, identities = generate_cohort(range(1, N + 1))
    config = PaillierConfig(
        1, DIM, QUANT, tuple(range(1, N + 1)), security=Security.MALICIOUS,
        roster_digest=roster.digest,
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="model digest"):
        PaillierClient(config, 2, np.zeros(DIM + 1, np.uint32), identity=identities[2], roster=roster)
    with pytest.raises(ConfigurationError, match="model digest"):
        PaillierServer(config, roster=roster)


def test_colluders_cannot_stand_in_for_honest_uploads() -> None:
    # Found in review: at 200 clients the server plus min_uploads - 1 colluders signing
    # encryptions of zero got one honest upload decrypted alone. min_uploads now adds the
    # collusion bound, so the colluders it tolerates never make up the floor.
    roster, _ = generate_cohort(range(1, 201))
    quant = QuantizationConfig(bits=12, max_clients=200)
    honest = PaillierConfig(3, DIM, quant, tuple(range(1, 201)))
    malicious = PaillierConfig(
        3, DIM, quant, tuple(range(1, 201)), security=Security.MALICIOUS,
        roster_digest=roster.digest,
    )  # fmt: skip
    assert malicious.max_corrupt == 10
    assert malicious.minimum == honest.minimum + 10
    with pytest.raises(ConfigurationError, match="colluding"):
        replace(malicious, min_uploads=honest.minimum + 9)
    with pytest.raises(ConfigurationError):
        PaillierConfig(3, DIM, quant, tuple(range(1, 201)), max_corrupt=2)  # honest mode


def test_restoring_needs_the_guard_in_the_malicious_mode(r) -> None:
    blob = r.clients[2].save()
    who = {"identity": r.identities[2], "roster": r.roster, "model_digest": MODEL}
    with pytest.raises(ConfigurationError, match="RestoreGuard"):
        PaillierClient.restore(blob, r.config, **who)
    restored = PaillierClient.restore(blob, r.config, guard=RestoreGuard(), **who)
    assert restored.stage is r.clients[2].stage
    holder = r.clients[1].key_holder
    assert holder is not None
    with pytest.raises(ConfigurationError, match="RestoreGuard"):
        KeyHolder.restore(holder.save(), r.config, identity=r.identities[1], roster=r.roster,
                          model_digest=MODEL)  # fmt: skip
