"""What the store accepts as a name, a text and a step, on every backend.

The loggers check what users pass with these before it is queued (a clear ValueError
in the caller), and the importers and Store use the same rules, so a key that one path
accepts is never refused by another. Pure functions, no I/O.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from typing import Any

MAX_KEY_LENGTH = 250
MAX_FRAMEWORK_LENGTH = 64  # the runs table's framework column (PostgreSQL enforces it)
MAX_STEP = 2**53 - 1  # steps travel through float64 in places; beyond this they'd round
# Characters no store holds: NUL (PostgreSQL refuses it) and lone surrogates (they
# cannot be encoded as UTF-8 at all).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_key(key: Any) -> str:
    """A metric, param or tag name: a non-empty string of at most 250 characters.

    >>> check_key("val/acc")
    'val/acc'
    >>> check_key("")
    Traceback (most recent call last):
    ...
    ValueError: empty key: name every metric, param and tag with a non-empty string
    """
    if not isinstance(key, str):
        raise ValueError(f"key {key!r} is a {type(key).__name__}; keys must be strings "
                         "such as 'loss' or 'val/acc'")
    if not key or key.isspace():
        raise ValueError("empty key: name every metric, param and tag with a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key {key[:40]!r}... is {len(key)} characters long; use at most "
                         f"{MAX_KEY_LENGTH}")
    if any(ord(c) < 32 for c in key):
        raise ValueError(f"key {key!r} contains control characters; remove them")
    return check_text(key, "key")


def check_text(text: str, what: str) -> str:
    """Text the store can hold on every backend: encodable as UTF-8 (no lone
    surrogates such as "\\ud800", which both databases refuse) and free of NUL
    characters (PostgreSQL refuses them; SQLite would store them).

    >>> check_text("ok", "notes")
    'ok'
    >>> check_text("a\\x00b", "notes")
    Traceback (most recent call last):
    ...
    ValueError: notes 'a\\x00b' contains a NUL character ('\\x00'); remove it, e.g. text.replace('\\x00', '')
    """
    if "\x00" in text:
        raise ValueError(f"{what} {_short(text)} contains a NUL character ('\\x00'); remove "
                         "it, e.g. text.replace('\\x00', '')")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} {_short(text)} cannot be stored as UTF-8 ({exc.reason} at "
                         f"position {exc.start}); decode bytes with errors='replace' or "
                         "remove the lone surrogate") from None
    return text


def first_unstorable(text: str) -> int | None:
    r"""Where the first character no store holds (a NUL, a lone surrogate) is in
    `text`, or None: for text to refuse with its position (filters, links).

    >>> first_unstorable("loss"), first_unstorable("lo\x00ss"), first_unstorable("\ud800")
    (None, 2, 0)
    """
    bad = _UNSTORABLE.search(text)
    return None if bad is None else bad.start()


def check_step(step: Any) -> int:
    """A step: a non-negative integer (numpy integers and integral tensors too)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if hasattr(step, "item") and getattr(step, "ndim", 1) == 0:
            return check_step(step.item())
        raise ValueError(f"step {step!r} is not an integer; pass a whole number such as "
                         "step=12, or leave it out to count up from the last step")
    step = int(step)
    if step < 0:
        raise ValueError(f"step {step} is negative; steps start at 0")
    if step > MAX_STEP:
        raise ValueError(f"step {step} is too large; steps must be below 2**53")
    return step


def check_framework(framework: Any) -> str:
    """A run's framework name: a short label (at most 64 characters, no control
    characters), the same rule on SQLite and PostgreSQL.

    >>> check_framework("torch")
    'torch'
    >>> check_framework("pytorch " * 10)
    Traceback (most recent call last):
    ...
    ValueError: framework 'pytorch pytorch pytorch pytorch pytorch pytorch pytorch ... is 80 characters long; use at most 64 (e.g. 'torch', 'keras'), and put longer text in tags or notes
    """
    if not isinstance(framework, str) or not framework or framework.isspace():
        raise ValueError(f"framework={framework!r}: give a short name such as 'torch'")
    if len(framework) > MAX_FRAMEWORK_LENGTH:
        raise ValueError(f"framework {_short(framework)} is {len(framework)} characters long; "
                         f"use at most {MAX_FRAMEWORK_LENGTH} (e.g. 'torch', 'keras'), and put "
                         "longer text in tags or notes")
    check_text(framework, "framework")
    if any(ord(c) < 32 for c in framework):
        raise ValueError(f"framework {framework!r} contains control characters; remove them")
    return framework


def storable_text(text: str, max_length: int | None = None, *, one_line: bool = False) -> str:
    r"""`text` as the store can always hold it, for text trackboard reads from the
    system rather than from the user (a command line, a host name, a directory name):
    such text must never cost a run its place, so it is repaired, not refused.

    Bytes that are not UTF-8 (Python keeps them as lone surrogates, e.g. the argument
    `--data=/mnt/donn\xe9es` of a Latin-1 shell) are written as `\xNN`, NUL characters
    are removed, with `one_line` other control characters are written as `\xNN` too
    (names refuse them: check_key), and the result is cut to `max_length` characters.

    >>> storable_text("--data=/mnt/donn\udce9es")
    '--data=/mnt/donn\\xe9es'
    >>> storable_text("a\x00b\tc", one_line=True)
    'ab\\x09c'
    >>> storable_text("abcdef", 4)
    'abcd'
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # the bytes the text was decoded from, when it came with surrogateescape
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # other lone surrogates: written as \udXXX
            raw = text.encode("utf-8", "backslashreplace")
        text = raw.decode("utf-8", "backslashreplace")
    if one_line and any(ord(c) < 32 for c in text):
        text = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 else c for c in text)
    return text if max_length is None else text[:max_length]


def check_tags(tags: Any) -> dict[str, str]:
    """Tags as the store holds them: checked keys, values as text (numbers become
    text; anything else, bools included, is refused). Run.set_tags and Store.set_tags
    both use this.

    >>> check_tags({"seed": 3, "team": "pricing"})
    {'seed': '3', 'team': 'pricing'}
    >>> check_tags({"ok": True})
    Traceback (most recent call last):
    ...
    ValueError: tag 'ok' has a bool value; tags are text, e.g. set_tags({'seed': '3'})
    """
    if not isinstance(tags, Mapping):
        raise ValueError(f"set_tags() takes a dict, got {type(tags).__name__}")
    clean = {}
    for key, value in tags.items():
        check_key(key)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"tag {key!r} has a {type(value).__name__} value; tags are "
                             "text, e.g. set_tags({'seed': '3'})")
        clean[key] = check_text(str(value), f"tag {key!r}")
    return clean


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
