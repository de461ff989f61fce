"""The schema of a model's state: what each array and scalar of a fitted object must be.

Every class whose objects :func:`reservoir.load` creates (estimators,
reservoirs, readouts) has a ``_check_consistency`` method that checks its
own parameters (with the validation ``fit`` runs) and its fitted state with
:class:`StateCheck`: each array's type, dtype, number of dimensions and
shape in the object's own sizes (``n_units``, ``n_features_in_``, outputs,
readout features, layers, groups), sparse matrices' structure, scalars'
types and ranges, and the identities between attributes. A model assembled
from a forged file is refused there, with a ``ValueError`` naming the
attribute, what was expected and what was found, before any of its arrays
reaches a kernel; the compiled kernels check the shapes they are given as
well (:mod:`reservoir._compiled`), so even an object assembled by hand
cannot make them write out of bounds.

A check reads the state as it is and changes nothing.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse

__all__ = ["StateCheck", "check_nnz"]

_MISSING = object()


def _describe(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        kind = "a sparse matrix" if scipy.sparse.issparse(value) else "an array"
        return f"{kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({type(value).__name__})"


class StateCheck:
    """Checks of one object's attributes against the sizes it declares.

    Sizes are named (``check.sizes["n_units"] = 20``) and shapes are given
    in those names or as ints, so that an error reads ``ESNRegressor:
    _final_state must be an array of shape (n_series, n_units=20), found an
    array of shape (1, 5000) ...``.

    Parameters
    ----------
    obj : object
        The object whose attributes are checked.
    **sizes : int
        Sizes known beforehand.
    """

    def __init__(self, obj, **sizes):
        self.obj = obj
        self.owner = type(obj).__name__
        self.sizes = dict(sizes)

    # ------------------------------------------------------------------ errors

    def fail(self, name, expected, found):
        raise ValueError(f"{self.owner}: {name} must be {expected}, found {found}")

    def get(self, name, value=_MISSING):
        if value is not _MISSING:
            return value
        if not hasattr(self.obj, name):
            self.fail(name, "set (the fitted state has no such attribute)", "nothing")
        return getattr(self.obj, name)

    def _dims(self, shape):
        """(resolved sizes, their description) of a shape of names, ints and None."""
        resolved, words = [], []
        for n in shape:
            if n is None:
                resolved.append(None)
                words.append("any")
            elif isinstance(n, str):
                resolved.append(self.sizes[n])
                words.append(f"{n}={self.sizes[n]}")
            else:
                resolved.append(int(n))
                words.append(str(int(n)))
        return resolved, f"({', '.join(words)}{',' if len(words) == 1 else ''})"

    # ------------------------------------------------------------------ arrays

    def array(self, name, shape, *, dtype="float", value=_MISSING, sparse=False, finite=True):
        """The attribute ``name``, an array of ``shape`` and ``dtype``; returned.

        ``dtype`` is a NumPy dtype (exactly that one, in native byte order),
        "float" (float32 or float64), "int", "bool" or "label" (numbers,
        booleans or strings). With ``sparse``, a SciPy CSR matrix is
        accepted as well, after a full check of its structure. Arrays of a
        GPU library (a model loaded with ``device=``) are checked through
        their host copy.
        """
        from ._backend import to_numpy

        a = self.get(name, value)
        resolved, words = self._dims(shape)
        kind = {"float": "floating-point", "int": "integer", "bool": "boolean",
                "label": "label"}.get(dtype, str(np.dtype(dtype)) if not isinstance(dtype, str)
                                      else dtype)
        expected = f"a{' CSR or dense' if sparse else 'n'} {kind} array of shape {words}"
        is_sparse = scipy.sparse.issparse(a)
        if is_sparse and not sparse:
            self.fail(name, expected, _describe(a))
        if not is_sparse and not (hasattr(a, "shape") and hasattr(a, "dtype")
                                  and hasattr(a, "ndim")):
            self.fail(name, expected, _describe(a))
        if len(a.shape) != len(resolved) or any(
                n is not None and int(m) != n for m, n in zip(a.shape, resolved, strict=True)):
            self.fail(name, expected, _describe(a))
        if not _dtype_matches(a.dtype, dtype):
            self.fail(name, expected, _describe(a))
        if is_sparse:
            if a.format != "csr":
                self.fail(name, expected, f"a sparse matrix in the {a.format!r} format")
            try:
                check_nnz(a.indptr, a.indices, a.data)
                a.check_format(full_check=True)
            except (ValueError, TypeError, IndexError) as exc:
                self.fail(name, "a valid CSR matrix", f"an invalid one ({exc})")
            values = a.data
        else:
            values = a if isinstance(a, np.ndarray) else np.asarray(to_numpy(a))
        if finite and values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            self.fail(name, f"{expected} of finite values", "NaN or infinity in it")
        return a

    def same(self, name, other, value=_MISSING):
        """The attribute ``name`` is the very object ``other`` names ("reservoir_.W")."""
        a = self.get(name, value)
        obj = self.obj
        for part in other.split("."):
            obj = getattr(obj, part, _MISSING)
        if a is not obj:
            self.fail(name, f"the same object as {other}", _describe(a))
        return a

    # ------------------------------------------------------------------ scalars

    def integer(self, name, *, low=None, high=None, equal=None, value=_MISSING):
        """The attribute ``name``, an int (not a bool) in [low, high] or equal to ``equal``."""
        v = self.get(name, value)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            self.fail(name, "an int", _describe(v))
        v = int(v)
        if equal is not None and v != equal:
            self.fail(name, f"{equal}", v)
        if (low is not None and v < low) or (high is not None and v > high):
            self.fail(name, f"an int in [{low}, {'inf' if high is None else high}]", v)
        return v

    def boolean(self, name, value=_MISSING):
        v = self.get(name, value)
        if not isinstance(v, (bool, np.bool_)):
            self.fail(name, "True or False", _describe(v))
        return bool(v)

    def choice(self, name, choices, value=_MISSING):
        v = self.get(name, value)
        if not any(type(v) is type(c) and v == c for c in choices):
            self.fail(name, f"one of {tuple(choices)}", _describe(v))
        return v

    def instance(self, name, cls, value=_MISSING):
        """The attribute ``name``, an instance of ``cls`` (a class or a tuple of classes)."""
        v = self.get(name, value)
        if not isinstance(v, cls):
            names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
            self.fail(name, f"a {names}", _describe(v))
        return v

    def together(self, *names):
        """Whether the attributes ``names``, which a fit sets together, are set: all or none.

        A file holding some of them (one removed) describes a model that no
        fit leaves, and is refused.
        """
        present = [n for n in names if hasattr(self.obj, n)]
        if present and len(present) != len(names):
            missing = next(n for n in names if n not in present)
            self.fail(missing, f"set, as {present[0]} is (a fit sets {', '.join(names)} "
                      "together)", "nothing")
        return bool(present)

    def features_in(self):
        """``n_features_in_`` (and ``feature_names_in_``) of a fitted model; sets the size."""
        self.sizes["n_features_in_"] = self.integer("n_features_in_", low=1)
        if hasattr(self.obj, "feature_names_in_"):
            self.array("feature_names_in_", ("n_features_in_",), dtype="label")
        return self.sizes["n_features_in_"]

    def empty(self, name):
        """The attribute ``name``, a cache rebuilt on use: an empty dict in a model file."""
        if self.instance(name, dict):
            self.fail(name, "empty (a cache that model files never hold)", "entries")


def check_nnz(indptr, indices, data):
    """Compressed row pointers end at the number of stored values, exactly.

    Checked on the parts as given: SciPy's own check trims longer parts to
    the row pointers' end instead of refusing them.
    """
    if indptr.size == 0 or not int(indptr[-1]) == indices.size == data.shape[0]:
        end = int(indptr[-1]) if indptr.size else None
        raise ValueError(f"indptr ends at {end}, but there are {indices.size} indices and "
                         f"{data.shape[0]} values")


def _dtype_matches(dt, expected):
    if not dt.isnative and dt.itemsize > 1:
        return False
    if not isinstance(expected, str):
        return dt == np.dtype(expected)
    if expected == "float":
        return dt in (np.float32, np.float64)
    if expected == "int":
        return dt.kind in "iu" and dt.itemsize <= 8
    if expected == "bool":
        return dt == np.bool_
    return expected == "label" and dt.kind in "biufUOT"
