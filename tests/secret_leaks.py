"""Finds any part of a key in a text: the check behind every test that says a key never shows."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

#: The shortest run of a key's characters that counts as a leak.
RUN = 8


def _base64_forms(key: bytes) -> set[str]:
    """Base64 of the key as it stands inside longer texts, at each byte alignment: the characters
    that two different surroundings encode alike are the key's own."""
    forms = set()
    for before in range(3):
        a, b = (base64.b64encode(f * before + key + f * 3).decode() for f in (b"\0", b"\xff"))
        same = "".join(x if x == y else " " for x, y in zip(a, b, strict=True)).split()
        forms.add(max(same, key=len))
    return forms | {f.replace("+", "-").replace("/", "_") for f in forms}


def leaks(text: str, *keys: str) -> list[str]:
    """The runs of `RUN` characters of the keys, raw, URL-encoded or in base64, that `text` holds.

    Args:
        text: Any output.
        keys: The secrets to look for.

    Returns:
        The runs found (empty when nothing leaked).
    """
    found = []
    for key in keys:
        forms = {key, quote(key, safe=""), quote_plus(key)} | _base64_forms(key.encode())
        for form in forms:
            runs = {form[i : i + RUN] for i in range(len(form) - RUN + 1)}
            found += [run for run in runs if run in text]
    return found
