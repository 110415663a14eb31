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

It also stands in for `pypi-attestations verify pypi`, as `audit` runs it:

  python test_signer.py verify --repository URL --provenance-file PROVENANCE FILE

passes when the provenance (PEP 740's `Provenance` object) holds an attestation whose one
subject is FILE's name and sha256, and fails (exit 1, "Verification failed for NAME: …") when it
does not, or when FILE's name is TEST_VERIFIER_REFUSE (a signature that does not verify). It
checks no signature. TEST_VERIFIER_LOG gets one JSON line per call: the file's name and
sha256, the repository, and the environment's names.
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


def verify(args):
    import argparse

    parser = argparse.ArgumentParser(prog="test_signer.py verify")
    parser.add_argument("--repository", required=True)
    parser.add_argument("--provenance-file", required=True)
    parser.add_argument("file")
    options = parser.parse_args(args)
    name = os.path.basename(options.file)
    with open(options.file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if os.environ.get("TEST_VERIFIER_LOG"):
        with open(os.environ["TEST_VERIFIER_LOG"], "a") as log:
            call = {"file": name, "sha256": digest, "repository": options.repository, "env": sorted(os.environ)}
            log.write(json.dumps(call) + "\n")
    with open(options.provenance_file) as f:
        provenance = json.load(f)
    subjects = []
    for bundle in provenance.get("attestation_bundles", []):
        for attestation in bundle.get("attestations", []):
            statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
            subjects.extend(statement.get("subject", []))
    if not any(s.get("name") == name and s.get("digest", {}).get("sha256") == digest for s in subjects):
        sys.exit(f"Verification failed for {name}: no attestation of these bytes")
    if name == os.environ.get("TEST_VERIFIER_REFUSE"):
        sys.exit(f"Verification failed for {name}: the signature does not verify (TEST_VERIFIER_REFUSE)")
    print(f"OK: {name}")


if sys.argv[1:2] == ["verify"]:
    verify(sys.argv[2:])
    sys.exit(0)

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
