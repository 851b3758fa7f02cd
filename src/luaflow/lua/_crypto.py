"""The `crypto` module: random values, HMAC, AES-GCM and ChaCha20-Poly1305, JWT, PBKDF2.

Everything that needs randomness (random values, encryption nonces) draws on `rng`, and JWT
expiry reads `now_ns`: inside workflows these are the run's replay-safe randomness and workflow
time, so a replay computes the same bytes. Wrong argument types raise (`bad argument ...`);
bad values give `nil, err`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from luaflow.lua._args import args_lib, checked_table
from luaflow.lua._errors import INTERNAL, INVALID, LuaflowError
from luaflow.lua._json import to_go_any
from luaflow.lua._jwt import encode_token, verify_token
from luaflow.lua._modules import lua_result
from luaflow.lua._runtime import LuaState
from luaflow.lua._uuid import OS_RANDOM, RandomSource, UuidGenerator

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

#: Largest `n` for crypto.random.bytes / crypto.random.string.
MAX_RANDOM_BYTES = 1_048_576
MAX_PBKDF2_ITERATIONS = 10_000_000
NONCE_SIZE = 12

DEFAULT_CHARSET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

#: Key sizes and the error for another size, by cipher name.
_CIPHERS: dict[str, tuple[tuple[int, ...], str]] = {
    "aes": ((16, 24, 32), "key must be 16, 24, or 32 bytes"),
    "chacha20": ((32,), "key must be 32 bytes"),
}


def _invalid(message: str) -> LuaflowError:
    return LuaflowError(message, INVALID, False)


def _integer(n: float) -> int:
    """A number as Go's CheckInt reads it: truncated toward zero (infinities saturate)."""
    if math.isfinite(n):
        return math.trunc(n)
    return 2**63 - 1 if n > 0 else 0


def _count(n: float) -> int:
    """A length of random data, within 1..1 MiB."""
    count = _integer(n)
    if count <= 0:
        raise _invalid("length must be a positive integer")
    if count > MAX_RANDOM_BYTES:
        raise _invalid("length exceeds maximum allowed size (1MB)")
    return count


def random_bytes(rng: RandomSource, n: int) -> bytes:
    data = rng.random_bytes(n)
    if len(data) != n:
        raise LuaflowError(f"random source returned {len(data)} bytes, not {n}", INTERNAL, False)
    return data


def random_indexes(rng: RandomSource, n: int, k: int) -> list[int]:
    """`n` uniform integers in [0, k): fixed-width draws, rejecting the biased top range."""
    if k == 1:
        return [0] * n
    width = ((k - 1).bit_length() + 7) // 8
    space = 1 << (8 * width)
    limit = space - space % k
    out: list[int] = []
    while len(out) < n:
        need = n - len(out)
        data = random_bytes(rng, need * width)
        if width == 1:
            draws: list[int] = list(data)
        else:
            draws = [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]
        out.extend(r % k for r in draws if r < limit)
    return out


def random_string(rng: RandomSource, n: int, charset: bytes = DEFAULT_CHARSET) -> bytes:
    """`n` bytes of `charset`, each drawn uniformly (bytes, as upstream: a multi-byte UTF-8
    character counts as its bytes)."""
    return bytes(charset[i] for i in random_indexes(rng, n, len(charset)))


def _aead(cipher: str, key: bytes) -> AESGCM | ChaCha20Poly1305:
    """The AEAD of `cipher` over `key`, once the key size is checked."""
    # cryptography is imported on first use, not with the module: it slows every CLI start.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    sizes, message = _CIPHERS[cipher]
    if len(key) not in sizes:
        raise _invalid(message)
    return AESGCM(key) if cipher == "aes" else ChaCha20Poly1305(key)


def seal(cipher: str, data: bytes, key: bytes, aad: bytes | None, rng: RandomSource) -> bytes:
    """`nonce(12) ‖ ciphertext ‖ tag(16)` with a nonce drawn from `rng`."""
    aead = _aead(cipher, key)
    nonce = random_bytes(rng, NONCE_SIZE)
    return nonce + aead.encrypt(nonce, data, aad)


def open_sealed(cipher: str, data: bytes, key: bytes, aad: bytes | None) -> bytes:
    """The plaintext of `seal` output; a wrong key, AAD or a tampered message is Internal."""
    from cryptography.exceptions import InvalidTag

    aead = _aead(cipher, key)
    if len(data) < NONCE_SIZE:
        raise _invalid("encrypted data too short")
    try:
        return aead.decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], aad)
    except InvalidTag:
        raise LuaflowError(
            "decrypt: cipher: message authentication failed", INTERNAL, False
        ) from None


def pbkdf2(password: bytes, salt: bytes, iterations: float, length: float, name: Any) -> bytes:
    """PBKDF2-HMAC key bytes; counts are Lua numbers, read as Go's CheckInt reads them."""
    iterations, length = _integer(iterations), _integer(length)
    if not password:
        raise _invalid("password cannot be empty")
    if not salt:
        raise _invalid("salt cannot be empty")
    if iterations <= 0:
        raise _invalid("iterations must be positive")
    if iterations > MAX_PBKDF2_ITERATIONS:
        raise _invalid(f"iterations exceeds maximum ({MAX_PBKDF2_ITERATIONS})")
    if length <= 0:
        raise _invalid("key length must be positive")
    if length > MAX_RANDOM_BYTES:  # a bound of luaflow's own: the key is built in worker memory
        raise _invalid(f"key length exceeds maximum ({MAX_RANDOM_BYTES})")
    digest = name.decode("utf-8", "replace") if isinstance(name, bytes) else "sha256"
    if digest not in ("sha256", "sha512"):
        raise _invalid(f"unsupported hash function: {digest}")
    return hashlib.pbkdf2_hmac(digest, password, salt, iterations, length)


def crypto_module(
    state: LuaState, rng: RandomSource, now_ns: Callable[[], int] = time.time_ns
) -> Any:
    """The Lua table `crypto` over `rng` (randomness, nonces) and `now_ns` (JWT expiry; the wall
    clock by default)."""
    uuids = UuidGenerator(rng, lambda: 0)
    lib = args_lib(state)

    def result(fn: Callable[[], Any]) -> tuple[Any, Any]:
        return lua_result(state, fn)

    def random_string_(n: float, charset: Any = None, *_: Any) -> tuple[Any, Any]:
        def run() -> bytes:
            count = _count(n)
            if not isinstance(charset, bytes):
                return random_string(rng, count)
            if not charset:
                raise _invalid("charset cannot be empty")
            return random_string(rng, count, charset)

        return result(run)

    def mac(digest: str) -> Callable[..., tuple[Any, Any]]:
        def run(key: bytes, data: bytes, *_: Any) -> tuple[Any, Any]:
            if not key:
                return None, state.error_to_lua(_invalid("key cannot be empty"))
            return hmac.new(key, data, digest).hexdigest().encode(), None

        return run

    def encrypt(cipher: str) -> Callable[..., tuple[Any, Any]]:
        def run(data: bytes, key: bytes, aad: Any = None, *_: Any) -> tuple[Any, Any]:
            extra = aad if isinstance(aad, bytes) else None
            return result(lambda: seal(cipher, data, key, extra, rng))

        return run

    def decrypt(cipher: str) -> Callable[..., tuple[Any, Any]]:
        def run(data: bytes, key: bytes, aad: Any = None, *_: Any) -> tuple[Any, Any]:
            extra = aad if isinstance(aad, bytes) else None
            return result(lambda: open_sealed(cipher, data, key, extra))

        return run

    def jwt_encode(claims: Any, key: bytes, alg: bytes | None = None, *_: Any) -> Any:
        def run() -> bytes:
            payload = to_go_any(state, claims)
            if not isinstance(payload, dict):
                raise _invalid("failed to convert payload to map")
            return encode_token(payload, key, (alg or b"HS256").decode("utf-8", "replace"))

        return result(run)

    def jwt_verify(
        token: bytes, key: bytes, alg: bytes | None = None, require_exp: bool | None = None, *_: Any
    ) -> tuple[Any, Any]:
        name = (alg or b"HS256").decode("utf-8", "replace")
        return result(lambda: verify_token(token, key, name, require_exp is not False, now_ns))

    def derive(password: bytes, salt: bytes, iterations: float, length: float, *rest: Any) -> Any:
        name = rest[0] if rest else None
        return result(lambda: pbkdf2(password, salt, iterations, length, name))

    table = state.runtime.table()
    table[b"random"] = checked_table(
        state,
        {
            "bytes": ("n", lambda n, *_: result(lambda: random_bytes(rng, _count(n)))),
            "string": ("n", random_string_),
            "uuid": ("", lambda *_: result(uuids.v4)),
        },
        lib,
    )
    table[b"hmac"] = checked_table(
        state, {"sha256": ("ss", mac("sha256")), "sha512": ("ss", mac("sha512"))}, lib
    )
    table[b"encrypt"] = checked_table(
        state, {name: ("ss", encrypt(name)) for name in _CIPHERS}, lib
    )
    table[b"decrypt"] = checked_table(
        state, {name: ("ss", decrypt(name)) for name in _CIPHERS}, lib
    )
    table[b"jwt"] = checked_table(
        state, {"encode": ("tsS", jwt_encode), "verify": ("ssSB", jwt_verify)}, lib
    )
    return checked_table(
        state,
        {
            "pbkdf2": ("ssnn", derive),
            "constant_time_compare": ("ss", lambda a, b, *_: hmac.compare_digest(a, b)),
        },
        lib,
        table,
    )


__all__ = [
    "DEFAULT_CHARSET",
    "MAX_RANDOM_BYTES",
    "OS_RANDOM",
    "RandomSource",
    "crypto_module",
    "open_sealed",
    "pbkdf2",
    "random_bytes",
    "random_indexes",
    "random_string",
    "seal",
]
