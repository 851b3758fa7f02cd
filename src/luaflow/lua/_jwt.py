"""JWS-signed JWTs as the reference runtime makes and checks them (golang-jwt v5 semantics).

Built on `hmac` and `cryptography` rather than a JWT library: tokens must be byte-identical to
the reference ones (header and claims JSON with sorted keys, Go number and string rules), expiry
is checked against an injected clock (workflow time inside workflows), and failures must carry
golang-jwt's messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from luaflow.lua._errors import INTERNAL, INVALID, LuaflowError
from luaflow.lua._json import decode_json, marshal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography is imported by the RS256 paths on first use, not with the module: it slows every
# CLI start, and HMAC tokens never need it.

HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
#: Algorithms golang-jwt knows; a token naming another is "unverifiable".
KNOWN_ALGS = frozenset(
    {*HMAC_HASHES, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}
    | {"ES512", "EdDSA", "none"}
)


class JwtError(LuaflowError):
    """A token that fails to parse, verify or validate: Internal, context `verify token`."""

    def __init__(self, message: str) -> None:
        super().__init__(f"verify token: {message}", INTERNAL, False)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64url(segment: bytes) -> bytes:
    """Unpadded base64url (Go's RawURLEncoding, strict)."""
    if b"=" in segment or len(segment) % 4 == 1:
        raise binascii.Error("illegal base64 data")
    std = segment.replace(b"-", b"+").replace(b"_", b"/")
    return binascii.a2b_base64(std + b"=" * (-len(std) % 4), strict_mode=True)


def _pem_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if b"-----BEGIN" not in pem:
        raise ValueError("failed to parse PEM block containing private key")
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("key is not an RSA private key")
    return key


def _pem_public_key(pem: bytes) -> rsa.RSAPublicKey:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if b"-----BEGIN" not in pem:
        raise ValueError("failed to parse PEM block containing public key")
    if b"CERTIFICATE" in pem:
        key: Any = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("key is not an RSA public key")
    return key


def encode_token(claims: dict[str, Any], key: bytes, alg: str) -> bytes:
    """`crypto.jwt.encode`: an unknown `alg` signs HS256; `claims._header` (a map) is merged into
    the JOSE header and removed from the claims."""
    method = alg if alg in HMAC_HASHES or alg == "RS256" else "HS256"
    header: dict[str, Any] = {"alg": method, "typ": "JWT"}
    claims = dict(claims)
    extra = claims.get("_header")
    if isinstance(extra, dict):
        header.update(extra)
        del claims["_header"]
    signing_input = _b64url(marshal(header).encode()) + b"." + _b64url(marshal(claims).encode())
    if method == "RS256":
        try:
            private = _pem_private_key(key)
        except ValueError as exc:
            raise LuaflowError(f"invalid RSA private key: {exc}", INVALID, False) from None
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = hmac.new(key, signing_input, HMAC_HASHES[method]).digest()
    return signing_input + b"." + _b64url(signature)


def _raw_segment(segment: bytes, what: str) -> bytes:
    try:
        return _unb64url(segment)
    except ValueError as exc:  # binascii.Error included
        raise JwtError(f"token is malformed: could not base64 decode {what}: {exc}") from None


def _object_segment(segment: bytes, what: str) -> dict[str, Any]:
    raw = _raw_segment(segment, what)
    try:
        value = decode_json(raw)
    except LuaflowError as err:
        raise JwtError(f"token is malformed: could not JSON decode {what}: {err.message}") from None
    if not isinstance(value, dict):
        raise JwtError(f"token is malformed: could not JSON decode {what}: not an object")
    return value


def _check_signature(signing_input: bytes, signature: bytes, key: bytes, alg: str) -> None:
    if alg in HMAC_HASHES:
        expected = hmac.new(key, signing_input, HMAC_HASHES[alg]).digest()
        if not hmac.compare_digest(expected, signature):
            raise JwtError("token signature is invalid: signature is invalid")
        return
    if alg != "RS256":
        raise JwtError("token signature is invalid: key is of invalid type")
    try:
        public = _pem_public_key(key)
    except ValueError as exc:
        raise JwtError(f"token is unverifiable: error while executing keyfunc: {exc}") from None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JwtError("token signature is invalid: crypto/rsa: verification error") from None


def _numeric_date(claims: dict[str, Any], name: str, problems: list[str]) -> int | None:
    """A NumericDate claim in whole seconds; 0 and absent mean unset."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"invalid type for claim: {name} is invalid")
        return None
    return int(value) if value else None


def verify_token(
    token: bytes, key: bytes, alg: str, require_exp: bool, now_ns: Callable[[], int]
) -> dict[str, Any]:
    """`crypto.jwt.verify`: the claims, or JwtError with golang-jwt's message. Checks run in its
    order: shape, algorithm, signature, then `exp` (required unless `require_exp` is false) and
    `nbf` against `now_ns`."""
    parts = token.split(b".")
    if len(parts) != 3:
        raise JwtError("token is malformed: token contains an invalid number of segments")
    header = _object_segment(parts[0], "header")
    claims = _object_segment(parts[1], "claim")
    signature = _raw_segment(parts[2], "signature")
    method = header.get("alg")
    if not isinstance(method, str) or method not in KNOWN_ALGS:
        raise JwtError("token is unverifiable: signing method (alg) is unavailable")
    if method != alg:
        raise JwtError(f"token signature is invalid: signing method {method} is invalid")
    _check_signature(parts[0] + b"." + parts[1], signature, key, alg)
    now = now_ns() / 1e9
    problems: list[str] = []
    exp = _numeric_date(claims, "exp", problems)
    if exp is None and require_exp and not problems:
        problems.append("token is missing required claim: exp claim is required")
    elif exp is not None and not now < exp:
        problems.append("token is expired")
    nbf = _numeric_date(claims, "nbf", problems)
    if nbf is not None and now < nbf:
        problems.append("token is not valid yet")
    if problems:
        raise JwtError("token has invalid claims: " + ": ".join(problems))
    return claims


__all__ = ["HMAC_HASHES", "JwtError", "encode_token", "verify_token"]
