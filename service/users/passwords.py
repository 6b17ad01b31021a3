"""Password hashing with scrypt, a memory-hard KDF (`hashlib.scrypt`).

A stored hash is `scrypt$<n>$<r>$<p>$<salt>$<key>` (salt and key URL-safe base64), so
the cost can be raised later without breaking stored passwords. Hashing runs in a
worker thread, at most `CONCURRENT_HASHES` at a time per process: each takes about
16 MiB and a tenth of a second of CPU, and must neither block the event loop (other
requests) nor let a burst of logins exhaust memory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
#: scrypt cost: n = 2**14, r = 8 (16 MiB per hash), p = 1.
COST_N, COST_R, COST_P = 2**14, 8, 1
#: Largest costs a stored hash may name (bounds the work of a tampered document).
MAX_N, MAX_R, MAX_P = 2**17, 16, 4
SALT_BYTES = 16
KEY_BYTES = 32
MAX_MEMORY = 256 * 1024 * 1024
#: Hashes computed at once in one process.
CONCURRENT_HASHES = 2

_slots = asyncio.Semaphore(CONCURRENT_HASHES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=MAX_MEMORY,
        dklen=KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """The string to store for `password` (fresh salt, current cost)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, COST_N, COST_R, COST_P)
    return f"{SCHEME}${COST_N}${COST_R}${COST_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash; False for a malformed one."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, key = _unb64(salt_text), _unb64(key_text)
    except ValueError:
        return False
    if scheme != SCHEME or not (1 < n <= MAX_N and 0 < r <= MAX_R and 0 < p <= MAX_P):
        return False
    return hmac.compare_digest(_derive(password, salt, n, r, p), key)


async def hash_async(password: str) -> str:
    """`hash_password` off the event loop, within the per-process concurrency bound."""
    async with _slots:
        return await asyncio.to_thread(hash_password, password)


async def verify_async(password: str, stored: str) -> bool:
    """`verify_password` off the event loop, within the per-process concurrency bound."""
    async with _slots:
        return await asyncio.to_thread(verify_password, password, stored)


#: Verified against when the user does not exist, so that an unknown name takes as long
#: to refuse as a wrong password (no hint which of the two was wrong).
DECOY_HASH = (
    f"{SCHEME}${COST_N}${COST_R}${COST_P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(KEY_BYTES))}"
)
