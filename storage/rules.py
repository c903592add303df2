"""What the store accepts as a name, a text and a step, on every backend.

The loggers check what users pass with these before it is queued (a clear ValueError
in the caller), and the importers and Store use the same rules, so a key that one path
accepts is never refused by another. Pure functions, no I/O.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

MAX_KEY_LENGTH = 250
MAX_STEP = 2**53 - 1  # steps travel through float64 in places; beyond this they'd round


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
