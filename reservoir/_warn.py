"""Warnings that point at the user's line, however deep in the package they are raised."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the first caller outside this package.

    A fixed ``stacklevel`` breaks whenever a call path gains or loses a
    frame (a helper, a decorator); this walks the stack instead, so the
    warning names the line of user code (or of the library, such as
    scikit-learn's search, that called this package).
    """
    frame = sys._getframe(1)   # warn's caller: stacklevel 2 (1 is this function)
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
