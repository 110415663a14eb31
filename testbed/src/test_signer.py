"""A stand-in for `pypi-attestations sign`, for twostage's tests: writes `<file>.publish.attestation`
beside each file, a PEP 740 `Attestation` object (https://peps.python.org/pep-0740/) of the
shape pypi-attestations writes: `version`, `verification_material` (a certificate and one
transparency log entry), and an `envelope` whose `statement` is an in-toto v1 statement
(https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) with the file's name
and sha256 as its one subject, predicate type `https://docs.pypi.org/attestations/publish/v1`.

Structurally valid, cryptographically nothing: the certificate, the log entry and the signature
are placeholders, so no Sigstore verification can pass. Like pypi-attestations it refuses to
overwrite an attestation that exists.

Usage: python test_signer.py FILE...   Environment:
  TEST_SIGNER_MODE   `wrong-digest` (the subject's sha256 is of other bytes) or `wrong-name`
  TEST_SIGNER_LOG    a file that gets one line per file signed
  TEST_SIGNER_ENV    a file that gets the signer's environment, one `NAME=value` per line
"""

import base64
import hashlib
import json
import os
import sys


def b64(data):
    return base64.b64encode(data).decode()


def attestation(path):
    name = os.path.basename(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    mode = os.environ.get("TEST_SIGNER_MODE", "")
    if mode == "wrong-digest":
        digest = hashlib.sha256(b"other bytes").hexdigest()
    if mode == "wrong-name":
        name = "other-" + name
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest}}],
        "predicateType": "https://docs.pypi.org/attestations/publish/v1",
        "predicate": None,
    }
    entry = {
        "logIndex": "1",
        "logId": {"keyId": b64(b"test-log")},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": "1795478400",
        "inclusionProof": {
            "logIndex": "1",
            "rootHash": b64(bytes(32)),
            "treeSize": "2",
            "hashes": [b64(bytes(32))],
            "checkpoint": {"envelope": "test checkpoint"},
        },
        "canonicalizedBody": b64(b"{}"),
    }
    return {
        "version": 1,
        "verification_material": {
            "certificate": b64(b"not a certificate"),
            "transparency_entries": [entry],
        },
        "envelope": {
            "statement": b64(json.dumps(statement).encode()),
            "signature": b64(b"not a signature"),
        },
    }


for path in sys.argv[1:]:
    out = path + ".publish.attestation"
    if os.path.exists(out):
        sys.exit(f"{out} already exists")
    with open(out, "w") as f:
        json.dump(attestation(path), f)
    if os.environ.get("TEST_SIGNER_LOG"):
        with open(os.environ["TEST_SIGNER_LOG"], "a") as log:
            log.write(os.path.basename(path) + "\n")
    if os.environ.get("TEST_SIGNER_ENV"):
        with open(os.environ["TEST_SIGNER_ENV"], "a") as log:
            log.write("".join(f"{k}={v}\n" for k, v in sorted(os.environ.items())))
