#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# jws-detached.py FILE KEY.pem: prints a detached JWS (RFC 7515 appendix F,
# EdDSA, kid idp-1) of FILE's exact bytes by the Ed25519 key KEY.pem, as an
# issuer signs a remote-principal template (pertokctl template import
# --signature). Shared by tests/system/test-accept.sh and
# tests/bench/run-bench-act.sh.
import base64
import sys

from cryptography.hazmat.primitives import serialization as S


def b64(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


body = open(sys.argv[1], "rb").read()
key = S.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
h = b64(b'{"alg":"EdDSA","kid":"idp-1"}')
print(h + ".." + b64(key.sign((h + "." + b64(body)).encode())), end="")
