"""Keeping trackboard's own trouble out of the user's training loop.

A framework calls an adapter's hooks (Keras' on_epoch_end, Lightning's
log_metrics, the Trainer's on_log, ...) from deep inside fit(). An exception
raised there stops the user's script, so a hook must never raise because of
trackboard's own state: a finished run, a store problem, an odd value the
framework handed over. `framework_hook` wraps such a method: any exception is
reported once per (adapter, hook, kind of error) as a RuntimeWarning and the
training goes on. Direct calls by the user (SummaryWriter.add_scalar with a
bad value) are not wrapped: a ValueError there is the user's to fix.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("trackboard")

F = TypeVar("F", bound=Callable[..., Any])


def warn_once(owner: object, kind: str, message: str) -> None:
    """Warn (RuntimeWarning, and on the `trackboard` logger) once per owner and kind.

    >>> class Adapter: pass
    >>> a = Adapter()
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_once(a, "x", "first"); warn_once(a, "x", "again")
    >>> [str(w.message) for w in caught]
    ['first']
    """
    seen: set[str] | None = getattr(owner, "_trackboard_warned", None)
    if seen is None:
        seen = set()
        try:
            object.__setattr__(owner, "_trackboard_warned", seen)
        except (AttributeError, TypeError):  # a slotted owner: warn every time
            pass
    if kind in seen:
        return
    seen.add(kind)
    log.warning("%s", message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def hook_trouble(owner: object, hook: str, exc: Exception) -> None:
    """What `framework_hook` does with an exception: warn once per hook and kind of
    error, and go on. Per-step hooks call it from an inline try/except, which costs
    less per step than the decorator's extra frame."""
    log.debug("trackboard: %s.%s failed", type(owner).__name__, hook, exc_info=exc)
    warn_once(owner, f"{hook}:{type(exc).__name__}",
              f"trackboard: {type(owner).__name__}.{hook} could not record this "
              f"({type(exc).__name__}: {exc}); training goes on, and this warning is "
              "shown once")


def framework_hook(method: F) -> F:
    """Decorate an adapter's framework hook: trackboard trouble warns once, never raises.

    >>> class Callback:
    ...     @framework_hook
    ...     def on_log(self, logs):
    ...         raise ValueError("run is finished")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Callback().on_log({})          # returns None instead of raising
    >>> "on_log" in str(caught[0].message)
    True
    """
    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the whole point: training goes on
            hook_trouble(self, method.__name__, exc)
            return None
    return guarded  # type: ignore[return-value]
