"""Hyperparameter values: what users pass as config -> plain JSON data for the store.

param_value turns numpy scalars and arrays, tensors, Enums, paths, dates,
dataclasses, Namespaces and OmegaConf-style configs into JSON data; flatten makes
nested configs dotted keys; encode_params is what Run.log_params stores. Pure
helpers, no I/O; tensors are recognised by duck typing (no framework import).
Metric values are in values.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import sys
from argparse import Namespace
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from pathlib import PurePath
from typing import Any

import numpy as np
from trackboard.storage.rules import check_key, check_text

MAX_PARAM_DEPTH = 100  # nesting levels of a config; deeper is a mistake (or a cycle)
# What strict=False keeps before it cuts a value short: less than the limit, so the
# result still passes the strict check after log_params nests it under its keys.
_RELAXED_DEPTH = 64


def flatten(d: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts (and argparse Namespaces) flattened to dotted keys.

    >>> flatten({"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 3})
    {'opt.lr': 0.1, 'opt.betas': [0.9, 0.99], 'seed': 3}

    A config that contains itself, or nests deeper than 100 levels, is refused:

    >>> loop = {"a": 1}; loop["self"] = loop
    >>> flatten(loop)
    Traceback (most recent call last):
    ...
    ValueError: config 'self' contains itself; pass plain nested dicts and lists (a cycle cannot be stored)
    """
    out: dict[str, Any] = {}
    _flatten_into(out, d, prefix, sep, 0, set())
    return out


def _flatten_into(out: dict[str, Any], d: Mapping[str, Any], prefix: str, sep: str,
                  depth: int, active: set[int]) -> None:
    # Iterative bookkeeping by hand: a 3000-level config must give a ValueError,
    # not a RecursionError, so depth is bounded long before Python's limit.
    if depth >= MAX_PARAM_DEPTH:
        raise ValueError(f"config {prefix[:60]!r}... nests deeper than {MAX_PARAM_DEPTH} "
                         "levels; flatten it, or store the deep part with str(value)")
    active.add(id(d))
    for k, v in d.items():
        if not isinstance(k, str):
            k = str(k)
        name = f"{prefix}{sep}{k}" if prefix else k
        if isinstance(v, Namespace):
            v = vars(v)
        if isinstance(v, Mapping) and v:
            if id(v) in active:
                raise ValueError(f"config {name!r} contains itself; pass plain nested dicts "
                                 "and lists (a cycle cannot be stored)")
            _flatten_into(out, v, name, sep, depth + 1, active)
        else:
            out[name] = v
    active.discard(id(d))


def param_value(value: Any, *, strict: bool = True) -> Any:
    """A hyperparameter as plain JSON data.

    Numbers, text, bools, None, lists and dicts stay as they are; numpy scalars and
    small arrays, tuples, sets (sorted), Enums, paths, dates and times (ISO text),
    complex numbers ("1+2j"), argparse Namespaces and dataclasses (dicts) and
    OmegaConf-style configs (anything with the Mapping or Sequence protocol) are
    converted.

    strict=True (a user's own call): anything the store would refuse raises
    ValueError: text that is not valid UTF-8 or holds NUL, integers beyond float64,
    cycles, nesting deeper than 100 levels, objects of unknown types.
    strict=False (framework hooks): never raises; such values become readable text.

    >>> param_value((1, np.int64(2)))
    [1, 2]
    >>> param_value({"when": np.datetime64("2024-05-01T12:00"), "z": np.complex64(1 - 2j)})
    {'when': '2024-05-01T12:00', 'z': '1-2j'}
    >>> param_value({3, 1, 2}), param_value(Namespace(lr=0.1, opt=Namespace(name="adam")))
    ([1, 2, 3], {'lr': 0.1, 'opt': {'name': 'adam'}})
    >>> param_value(object(), strict=False)[:8]
    '<object '
    >>> param_value(10**400)
    Traceback (most recent call last):
    ...
    ValueError: integer 1e400 (approximately) is beyond float64's range (about 1.8e308); store it as text, e.g. str(value)
    >>> param_value("bad\\ud800", strict=False)
    'bad\ufffd'
    """
    return _param(value, strict, 0, set())


def _param(value: Any, strict: bool, depth: int, active: set[int]) -> Any:
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, str):
        return _param_text(value, strict)
    if isinstance(value, int):
        return _param_int(value, strict)
    if isinstance(value, np.generic):
        return _numpy_scalar(value, strict)
    if isinstance(value, complex):
        return _complex_text(value)
    if isinstance(value, Enum):
        return _param(value.value, strict, depth, active)
    if isinstance(value, PurePath):
        return _param_text(str(value), strict)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (datetime.timedelta, Decimal, Fraction)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return _param_text(bytes(value).decode("utf-8", "backslashreplace"), strict)
    if isinstance(value, np.ndarray):
        if value.size <= 1000:
            return _param(value.tolist(), strict, depth, active)
        return _unstorable(value, strict, "an array of more than 1000 elements")
    if hasattr(value, "shape") and (hasattr(value, "tolist") or hasattr(value, "__array__")):
        return _tensor_param(value, strict, depth, active)
    container = _as_container(value)
    if container is None:
        return _unstorable(value, strict, "of an unknown type")
    if depth >= (MAX_PARAM_DEPTH if strict else _RELAXED_DEPTH):
        if strict:
            raise ValueError(f"config value nests deeper than {MAX_PARAM_DEPTH} levels; "
                             "flatten it, or store the deep part with str(value)")
        return f"<nested deeper than {_RELAXED_DEPTH} levels>"
    if id(value) in active:
        if strict:
            raise ValueError("config value contains itself; pass plain nested dicts and "
                             "lists (a cycle cannot be stored)")
        return "<cycle>"
    active.add(id(value))
    try:
        items = container()
        if isinstance(items, dict):
            return {_param_text(str(k), strict): _param(v, strict, depth + 1, active)
                    for k, v in items.items()}
        out = [_param(v, strict, depth + 1, active) for v in items]
        if isinstance(value, (set, frozenset)):
            out.sort(key=lambda v: (type(v).__name__, json.dumps(v, sort_keys=True)))
        return out
    except ValueError:
        if strict:
            raise
        return _readable(value)
    except Exception:  # a config that fails to read (e.g. OmegaConf's missing "???")
        if strict:
            raise ValueError(f"config value {_short_safe(value)} could not be read; "
                             "pass plain dicts and lists") from None
        return _readable(value)
    finally:
        active.discard(id(value))


def _tensor_param(value: Any, strict: bool, depth: int, active: set[int]) -> Any:
    """A tensor (torch on any device and with or without grad, JAX, TensorFlow) as
    NumPy would list it; like NumPy arrays, more than 1000 elements are not stored.

    >>> class Tensor:  # the duck type: shape and tolist(), as torch and JAX have
    ...     shape = (3,)
    ...     def tolist(self): return [0.5, 1.0, 2.0]
    >>> param_value({"w": Tensor()})
    {'w': [0.5, 1.0, 2.0]}
    """
    try:
        size = math.prod(int(d) for d in value.shape)
    except (TypeError, ValueError):  # a symbolic shape (None dimensions)
        return _unstorable(value, strict, "a tensor of unknown shape")
    if size > 1000:
        return _unstorable(value, strict, "a tensor of more than 1000 elements")
    try:
        listed = value.tolist() if hasattr(value, "tolist") else np.asarray(value).tolist()
    except Exception:  # noqa: BLE001 - e.g. a tensor on a device that is gone
        return _unstorable(value, strict, "a tensor that could not be read")
    return _param(listed, strict, depth, active)


def _as_container(value: Any) -> Callable[[], dict[Any, Any] | list[Any]] | None:
    """How to read `value` as a dict or a list, or None when it is neither."""
    if isinstance(value, Mapping):
        return lambda: dict(value.items())
    if isinstance(value, Namespace):
        return lambda: dict(vars(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return lambda: {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple, set, frozenset, Sequence)):
        return lambda: list(value)
    to_container = getattr(value, "to_container", None)
    if callable(to_container):  # OmegaConf-style configs that are neither of the above
        def read() -> dict[Any, Any] | list[Any]:
            got = to_container()
            if not isinstance(got, (dict, list)):
                raise TypeError(f"to_container() returned {type(got).__name__}")
            return got
        return read
    return None


def _param_text(text: str, strict: bool) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    if strict:
        return check_text(text, "config text")
    # Lone surrogates and NUL become U+FFFD; a surrogate pair becomes its character.
    return (text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            .replace("\x00", "\ufffd"))


def _param_int(value: int, strict: bool) -> int | str:
    if -_FLOAT_MAX_INT <= value <= _FLOAT_MAX_INT:
        return int(value)  # a plain int (IntEnum members too)
    if strict:
        raise ValueError(f"integer {_magnitude(value)} is beyond float64's range (about "
                         "1.8e308); store it as text, e.g. str(value)")
    try:
        return str(value)  # exact, as text
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return f"<integer {_magnitude(value)}>"


def _magnitude(value: int) -> str:
    """
    >>> _magnitude(-10**400)
    '-1e400 (approximately)'
    """
    digits = int(abs(value).bit_length() * math.log10(2))
    sign = "-" if value < 0 else ""
    return f"{sign}1e{digits} (approximately)"


_FLOAT_MAX_INT = int(sys.float_info.max)


def _numpy_scalar(value: np.generic, strict: bool) -> Any:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    if isinstance(value, np.timedelta64):
        return str(value)
    if isinstance(value, np.complexfloating):
        return _complex_text(complex(value))
    if isinstance(value, np.bytes_):
        return _param_text(bytes(value).decode("utf-8", "backslashreplace"), strict)
    item = value.item()
    if isinstance(item, np.generic) or isinstance(item, (bytes, tuple)):  # np.void and friends
        return _unstorable(value, strict, "of an unknown type")
    return _param(item, strict, 0, set())


def _complex_text(value: complex) -> str:
    """
    >>> _complex_text(1 + 2j), _complex_text(complex(0.5, -1))
    ('1+2j', '0.5-1j')
    """
    text = str(value)
    return text[1:-1] if text.startswith("(") else text


def _unstorable(value: Any, strict: bool, why: str) -> str:
    if strict:
        raise ValueError(f"config value {_short_safe(value)} ({type(value).__name__}) is "
                         f"{why} and cannot be stored; pass numbers, strings, bools, None, "
                         "lists or dicts of those (e.g. str(value))")
    return _readable(value)


def _readable(value: Any) -> str:
    """str() of an object when its class defines one, else repr(), shortened: never
    raises (a broken __repr__ or a 3000-level structure gives a placeholder)."""
    return _param_text(_short_safe(value, 500, prefer_str=True), strict=False)


def _short_safe(value: Any, limit: int = 60, *, prefer_str: bool = False) -> str:
    try:
        use_str = prefer_str and type(value).__str__ is not object.__str__
        text = str(value) if use_str else repr(value)
    except (Exception, RecursionError):
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def param_json(value: Any, *, strict: bool = True) -> str:
    """JSON text for the params table (NaN and infinities allowed, as Python writes them)."""
    return json.dumps(param_value(value, strict=strict), ensure_ascii=False)


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Params as the store holds them ({flat key: JSON text}); ValueError for
    anything it would refuse, raised in the caller rather than in the writer,
    where it would cost the whole batch.

    >>> encode_params({"opt": {"lr": 0.1}, "layers": (64, 32)})
    {'opt.lr': '0.1', 'layers': '[64, 32]'}
    """
    if not isinstance(params, Mapping):
        raise ValueError(f"log_params() takes a dict, got {type(params).__name__}")
    encoded = {}
    for key, value in flatten(params).items():  # ValueError for cycles, absurd nesting
        check_key(key)
        try:
            encoded[key] = param_json(value)
        except ValueError as exc:
            raise ValueError(f"param {key!r}: {exc}") from None
    return encoded
