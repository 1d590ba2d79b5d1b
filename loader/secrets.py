"""Secrets that never show up in output, in any encoding.

A `Secret` hides its value from `repr` and `str`. Every secret is also registered so that
`redact` and the logging filter can scrub it from text that came from elsewhere (an exception
message, a server's error body that echoes the request), which is the last line of defence for
invariant 6. A value is masked raw, in base64 and URL-encoded; the Basic auth token of a
key pair is registered as well, and any `Authorization` value or `Basic`/`Bearer` token is masked
whatever it holds.

A secret is masked where it stands as a whole token (not inside a longer word), so that a
secret such as `wrong` does not garble the message "the secret key is wrong" in a word like
"wrongly"; the explanations the loader writes itself (an error's remedy) are not scrubbed.

A part of a secret is a secret too: a server's answer cut to a length, or a hostile server that
echoes a slice of the key, would otherwise let most of it through. So any run of `FRAGMENT` or
more characters of a registered value, raw, URL-encoded or base64-encoded at any of the three
alignments a value can have inside a longer encoded text (a Basic token holds the secret after
the key), is masked wherever it stands. Text is masked whole before it is cut (`excerpt`).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

_MASK = "***"
_registered: set[str] = set()
_fragmented: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
#: The shortest part of a secret that is masked on its own, wherever it stands.
FRAGMENT = 8
_fragments: frozenset[str] | None = None
_SCHEMES = r"(?:basic|bearer|token|aws4-hmac-sha256)\s+"
#: An `Authorization` header or field, however it is quoted: its value is masked. A quoted
#: value goes whole, to its closing quote: an S3 client's debug log prints its headers as
#: `'Authorization': b'AWS4-HMAC-SHA256 Credential=<key id>/..., Signature=...'`.
_AUTHORIZATION = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*(?:b(?=['\"]))?)"
    r"(?:(['\"])(" + _SCHEMES + r")?[^'\"]*\2|[\"']?(" + _SCHEMES + r")?[^\s\"',;}\]]+)"
)
#: The parts of an AWS signature (Signature Version 4) anywhere else: in a presigned URL's
#: query (`X-Amz-Credential=`, `X-Amz-Signature=`, `X-Amz-Security-Token=`) or a log line.
_AWS_SIGNATURE = re.compile(
    r"(?i)(\b(?:x-amz-)?(?:credential|signature|security-token)['\"]?\s*[:=]\s*"
    r"(?:b(?=['\"]))?['\"]?)"
    r"[^\s&,'\"]+"
)
#: A scheme and token anywhere else (`Basic a2V5Oj...`); a token holds a digit or `+/=`, so
#: prose ("basic authentication") stays.
_SCHEME_TOKEN = re.compile(
    r"(?i)\b(basic|bearer)(\s+)(?=[A-Za-z0-9+/=_.~-]*[0-9+/=])[A-Za-z0-9+/=_.~-]{8,}"
)


def _encodings(value: str) -> set[str]:
    """The forms in which a value may come back: raw, base64 (padded or not), URL-encoded."""
    encoded = base64.b64encode(value.encode()).decode()
    url_safe = base64.urlsafe_b64encode(value.encode()).decode()
    forms = {value, encoded, encoded.rstrip("="), url_safe, url_safe.rstrip("=")}
    forms |= {quote(value, safe=""), quote_plus(value)}
    return {f for f in forms if f}


def _fragment_forms(value: str) -> set[str]:
    """The encoded texts whose every `FRAGMENT`-long run is part of the value."""
    forms = {value, quote(value, safe=""), quote_plus(value)}
    raw = value.encode()
    # Base64 inside a longer text depends on where the value starts within a 3-byte group:
    # for each start, keep the characters whose 6 bits all come from the value.
    for before in range(3):
        encoded = base64.b64encode(bytes(before) + raw + bytes(3)).decode()
        first, last = -(-8 * before // 6), 8 * (before + len(raw)) // 6
        forms |= {encoded[first:last], encoded[first:last].replace("+", "-").replace("/", "_")}
    return forms


def register(value: str, *, fragments: bool = True) -> None:
    """Mask `value` (in all its encodings) in everything `redact` sees from now on.

    Args:
        value: A secret value; shorter than 4 characters is ignored (it would mask ordinary
            words in messages).
        fragments: Mask its parts too (every run of `FRAGMENT` characters). Off for a value
            that is mostly public words, such as a signed link's query (`X-Amz-Algorithm=`),
            whose parts would mask those words in every other message.
    """
    global _pattern, _fragments
    if len(value) < 4:
        return
    with _lock:
        if value not in _registered:
            _registered.add(value)
            _pattern = None
        if fragments and value not in _fragmented:
            _fragmented.add(value)
            _fragments = None


def register_basic_auth(user: str, password: str) -> None:
    """Mask the Basic auth token of a user and password, as a server may echo the header.

    Args:
        user: The user name (an API key).
        password: The password (a secret key).
    """
    register(f"{user}:{password}")


class Secret:
    """A string value that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        """Return the real value, for the one place that must send it (the auth header).

        Returns:
            The secret's value.
        """
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _registered:
            forms = {form for value in _registered for form in _encodings(value)}
            alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
            # A token edge is a character that is not a letter or digit, or a %XX escape.
            before = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))"
            after = r"(?:(?![A-Za-z0-9])|(?=%[0-9A-Fa-f]{2}))"
            _pattern = re.compile(f"{before}(?:{alternatives}){after}")
        return _pattern


def _fragment_set() -> frozenset[str]:
    global _fragments
    with _lock:
        if _fragments is None:
            forms = {form for value in _fragmented for form in _fragment_forms(value)}
            _fragments = frozenset(
                form[i : i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)
            )
        return _fragments


def _mask_fragments(text: str) -> str:
    """Mask every stretch of `text` covered by runs of `FRAGMENT` characters of a secret.

    A set lookup per position keeps it linear in the text, whatever the number of keys.
    """
    fragments = _fragment_set()
    if not fragments or len(text) < FRAGMENT:
        return text
    spans: list[list[int]] = []
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT] in fragments:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + FRAGMENT
            else:
                spans.append([i, i + FRAGMENT])
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], _MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


def excerpt(text: str, limit: int) -> str:
    """The start of a text that came from elsewhere, masked whole before it is cut.

    Cutting first would leave the start of a secret that no longer matches as a whole.

    Args:
        text: A server's answer, or any text to quote in part.
        limit: The most characters kept.

    Returns:
        The masked text, cut to `limit` characters.
    """
    return redact(text)[:limit]


def redact(text: str) -> str:
    """Mask every registered secret, in every encoding, and every authorization value in `text`.

    Args:
        text: Any text about to be shown or stored.

    Returns:
        The text with secret values masked.
    """
    # Registered values first: a signed link's whole query is one, and masking its signature
    # alone first would leave the rest of it unmatched.
    text = _mask_fragments(text)
    pattern = _compiled()
    if pattern:
        text = pattern.sub(_MASK, text)
    text = _AUTHORIZATION.sub(_masked_authorization, text)
    text = _AWS_SIGNATURE.sub(lambda m: m.group(1) + _MASK, text)
    return _SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + _MASK, text)


def _masked_authorization(match: re.Match[str]) -> str:
    prefix, quote_mark, quoted_scheme, scheme = match.groups()
    if quote_mark:
        return f"{prefix}{quote_mark}{quoted_scheme or ''}{_MASK}{quote_mark}"
    return prefix + (scheme or "") + _MASK


#: The standard variables of AWS credentials, whose values a process may hold.
AWS_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def register_environment_credentials(environ: Mapping[str, str]) -> None:
    """Mask the object store's credentials found in the environment, as those of `Secret`s.

    Args:
        environ: The environment (`os.environ`).
    """
    for name in AWS_CREDENTIAL_VARIABLES:
        value = environ.get(name)
        if value:
            register(value)


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message with secrets masked.

        Args:
            record: The log record.

        Returns:
            Always True: records are rewritten, never dropped.
        """
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to a logger's handlers (the root logger by default).

    Args:
        logger: The logger whose handlers get the filter.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
