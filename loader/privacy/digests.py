"""Erased ids kept as keyed digests: the lake can recognise an erased user, not name one.

The erasure list must outlive the erasure: a reload of an old hour brings the user's rows back
from the export, and only the list can drop them again. Kept in plain text it would itself hold
the ids it exists to remove, so each id is kept as HMAC-SHA256 under a random key of the lake's
own (`_privacy/key`, created once). Whoever can read the lake can test a guess, not list ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from loader.lake import Lake

#: The lake's digest key, below its root; the vacuum never touches `_privacy/`.
KEY_FILE = "_privacy/key"


class IdDigests:
    """Digests ids under one lake's key.

    Args:
        key: The key.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def of_lake(cls, lake: Lake) -> IdDigests:
        """The lake's digests, its key created by the first caller (one of concurrent ones wins).

        Args:
            lake: The lake.

        Returns:
            The digests.
        """
        path = lake.join(KEY_FILE)
        if not lake.exists(path):
            lake.create_exclusive(path, secrets.token_hex(32).encode())
        return cls(bytes.fromhex(lake.read_bytes(path).decode()))

    def __repr__(self) -> str:  # never the key
        return "IdDigests(<key>)"

    def digest(self, kind: str, value: object) -> str:
        """The digest of one id of one kind (`amplitude_id`, `user_id`, ...).

        Args:
            kind: The kind of id; the same value of two kinds has two digests.
            value: The id (an int is digested as its decimal text).

        Returns:
            Hex digest.
        """
        message = f"{kind}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
