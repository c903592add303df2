"""trackboard.loggers: the Run API and one thin adapter per framework.

Framework adapters live in their own modules (trackboard.loggers.keras, .torch,
.lightning, .transformers, .jax) and import their framework lazily, so importing
this package needs only the core dependencies.
"""

from trackboard.loggers.media import Histogram, Image, Text
from trackboard.loggers.run import Run

__all__ = ["Histogram", "Image", "Run", "Text"]
