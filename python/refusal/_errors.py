"""The package's exception: the C++ library's refusal::Error, as a ValueError."""
from __future__ import annotations

from . import _refusal

#: Every error the engine reports (a model that cannot be found or read, a bad option, a text
#: that is not a str, an unreadable input file...), with the engine's message. A subclass of
#: ValueError. Raised by the C++ extension itself, so ``except refusal.RefusalError`` catches both.
RefusalError = _refusal.RefusalError

__all__ = ["RefusalError"]
