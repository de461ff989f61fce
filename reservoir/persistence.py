"""Saving and loading fitted models without pickle: :func:`save` and :func:`load`.

The format
----------
A model file is a zip archive (every member stored uncompressed) of

* ``model.json``: the format name and version, the versions of the libraries
  that wrote it, and the model as a tree: each estimator is its class (the
  public module that exports it, and its name), its parameters
  (``get_params(deep=False)``) and its fitted state (the entries of its ``__getstate__``, as pickle would take
  them), each value written as JSON (numbers, strings, lists, tagged tuples
  and dicts, NumPy scalars and dtypes, random generators' states) or as a
  reference to an array member; nested estimators, reservoirs and readouts
  are nodes of the same tree, and an object met twice (``W_`` and
  ``reservoir_.W``) is stored once;
* ``arrays/<n>.npy``: the arrays, in NumPy's ``.npy`` format (SciPy sparse
  matrices as their component arrays);
* the archive comment: ``reservoir-model``, the format version and the
  SHA-256 of every byte of the file before the comment, so that a truncated
  or bit-flipped file is detected before anything in it is interpreted.

Why this format rather than pickle, joblib or ``skops.io``: loading a pickle
(joblib files are pickles) runs whatever code the file names, so a model
file from someone else is a program from someone else. Here, loading parses
JSON and reads ``.npy`` arrays with ``allow_pickle=False``; the only classes
it instantiates are those of this package and scikit-learn's estimators,
resolved by module and name from that allowlist (never imported from a
module the file names otherwise), and it never calls anything the file
supplies. ``skops.io`` (a zip of JSON and ``.npy`` too) would do the same job
but is a further dependency, must be told to trust each of the package's
internal types, and writes no whole-file checksum; the format here is the
same idea in a few hundred lines on NumPy alone. The file is also an
ordinary zip (``unzip -l model.rsv`` lists it; ``model.json`` reads as text).

Pickle and joblib keep working for files you wrote yourself.

What is stored
--------------
An estimator is stored generically, from its ``__getstate__`` (device caches
are already left out there), so an estimator added to the package later is
covered without a list to update. A fitted attribute of a type the format
does not know raises a ``TypeError`` naming it at save time.

The state that only serves to continue training (the ridge readout's Gram
matrix ``X^T X`` in ``_accumulator``, an estimator's open training stream in
``_stream``; a class may name more in a ``_training_statistics`` tuple) is
often far larger than the weights (F^2 against F numbers per output). It is
written only when asked, ``keep_statistics=True``, for a model that will go
on training (``partial_fit``) after it is loaded; otherwise the file is
about the size of the weights, and ``partial_fit`` on the loaded model
starts a new training stream.

Arrays of another array library (CuPy) are written from a host copy and
recorded with their library; :func:`load` returns them as NumPy arrays, or
as CuPy arrays on the device given by ``device``. Weights that the
estimators keep on the host stay on the host.

Writing is atomic: the file is written to a temporary file in the same
folder, flushed to disk (``fsync``) and renamed over the target, so a save
that fails midway leaves the earlier file as it was.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import sys
import tempfile
import zipfile

import numpy as np
import scipy.sparse

from ._schema import check_nnz

__all__ = ["FORMAT_VERSION", "load", "save"]

FORMAT_NAME = "reservoir-model"
FORMAT_VERSION = 1
_MAGIC = FORMAT_NAME.encode() + b"\n"
_CHECKSUM_KEY = b"sha256="
_DIGEST_LENGTH = 64  # hexadecimal SHA-256
_MODEL_MEMBER = "model.json"
_ZIP_SIGNATURE = b"PK\x03\x04"
# Members carry a fixed timestamp: the same model gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Attributes that hold statistics only needed to continue training.
_TRAINING_STATISTICS = ("_accumulator", "_stream")

_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_BUILTIN_TYPES = {"float": float, "int": int, "bool": bool, "str": str, "complex": complex}
_SPARSE_PARTS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                 "bsr": ("data", "indices", "indptr"), "coo": ("data", "row", "col")}


# ---------------------------------------------------------------------------------- allowlist

def _allowed_module(module):
    return module == "reservoir" or module.startswith(("reservoir.", "sklearn."))


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_allowed_class(cls):
    """None if instances of ``cls`` may be stored, else the reason they may not."""
    from sklearn.base import BaseEstimator

    module = getattr(cls, "__module__", "") or ""
    if not _allowed_module(module):
        return (f"{_class_path(cls)} is not a class of the reservoir package or a scikit-learn "
                "estimator")
    if module.startswith("sklearn.") and not issubclass(cls, BaseEstimator):
        return f"{_class_path(cls)} is a scikit-learn class but not an estimator"
    if "<locals>" in cls.__qualname__ or "." in cls.__qualname__:
        return f"{_class_path(cls)} is not defined at the top level of its module"
    return None


def _public_module(cls):
    """The shortest module path that exports ``cls`` (``reservoir``, ``sklearn.preprocessing``).

    Files name classes where users import them, so that moving a class
    between private modules does not break the files written before.
    """
    parts = cls.__module__.split(".")
    for n in range(1, len(parts)):
        candidate = ".".join(parts[:n])
        module = sys.modules.get(candidate)
        if module is not None and getattr(module, cls.__name__, None) is cls:
            return candidate
    return cls.__module__


def _resolve_class(module, name):
    """The class ``module.name`` from the allowlist, or a ValueError; imports nothing else."""
    if not isinstance(module, str) or not isinstance(name, str) or not _allowed_module(module):
        raise ValueError(
            f"the model file names the class {module}.{name}, which is not a class of the "
            "reservoir package or a scikit-learn estimator; load only reads those"
        )
    if not name.isidentifier():
        raise ValueError(f"the model file names an invalid class {module}.{name}")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"the model file names the class {module}.{name}, but module {module} "
                         f"does not exist in this installation ({exc})") from exc
    cls = getattr(mod, name, None)
    if not isinstance(cls, type) or cls.__qualname__ != name:
        raise ValueError(f"the model file names the class {module}.{name}, which this "
                         "installation does not define")
    reason = _check_allowed_class(cls)
    if reason is not None:
        raise ValueError(f"the model file names the class {module}.{name}, which load does not "
                         f"create: {reason}")
    return cls


# ---------------------------------------------------------------------------------- encoding

def _namespace_name(a):
    return type(a).__module__.split(".")[0]


def _host_array(a):
    """(host ndarray, namespace name, device id or None) of an array of any library."""
    from ._backend import to_numpy

    name = _namespace_name(a)
    device = None
    if name == "cupy":
        device = int(a.device.id)
    return np.asarray(to_numpy(a)), name, device


def _is_array(value):
    return isinstance(value, np.ndarray) or (
        _namespace_name(value) in ("cupy", "array_api_strict")
        and hasattr(value, "shape") and hasattr(value, "dtype"))


class _Encoder:
    """Turns an object tree into JSON nodes and a list of host arrays."""

    def __init__(self, keep_statistics):
        self.keep_statistics = keep_statistics
        self.arrays = []
        self._array_nodes = {}    # id(array) -> (array, node)
        self._objects = {}        # id(object) -> (object, id in the file)

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if isinstance(value, float) and type(value) is float:
            return value if math.isfinite(value) else {"$": "float", "value": repr(value)}
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple) and type(value) is tuple:
            return {"$": "tuple", "items": [self.encode(v, f"{path}[{i}]")
                                            for i, v in enumerate(value)]}
        if isinstance(value, dict) and type(value) is dict:
            return {"$": "dict", "items": [[self.encode(k, f"{path} key"),
                                            self.encode(v, f"{path}[{k!r}]")]
                                           for k, v in value.items()]}
        if isinstance(value, (set, frozenset)) and type(value) in (set, frozenset):
            return {"$": type(value).__name__,
                    "items": [self.encode(v, f"{path} item") for v in value]}
        if isinstance(value, complex) and type(value) is complex:
            return {"$": "complex", "value": [self.encode(value.real, path),
                                              self.encode(value.imag, path)]}
        if isinstance(value, bytes) and type(value) is bytes:
            return {"$": "bytes", "hex": value.hex()}
        if isinstance(value, np.generic):
            return self._scalar(value, path)
        if isinstance(value, np.dtype):
            return self._dtype(value, path)
        if isinstance(value, type):
            return self._type(value, path)
        if _is_array(value):
            return self._array(value, path)
        if scipy.sparse.issparse(value):
            return self._sparse(value, path)
        if isinstance(value, np.random.Generator):
            return self._generator(value, path)
        if isinstance(value, np.random.RandomState):
            return {"$": "random_state",
                    "state": self.encode(value.get_state(legacy=False), f"{path} state")}
        return self._object(value, path)

    # -- leaves

    def _add_array(self, host):
        self.arrays.append(host)
        return len(self.arrays) - 1

    def _scalar(self, value, path):
        dtype = value.dtype
        if dtype.kind in "biuf" and dtype.itemsize <= 8:
            item = value.item()
            return {"$": "scalar", "dtype": dtype.str,
                    "value": self.encode(float(item) if dtype.kind == "f" else item, path)}
        return {"$": "scalar", "dtype": dtype.str,
                "array": self._array(np.asarray(value), path)}

    def _dtype(self, dtype, path):
        if dtype.fields is None:
            return {"$": "dtype", "str": dtype.str}
        return {"$": "dtype", "descr": self.encode(dtype.descr, path)}

    def _type(self, cls, path):
        if issubclass(cls, np.generic) and getattr(np, cls.__name__, None) is cls:
            return {"$": "numpy_type", "name": cls.__name__}
        if _BUILTIN_TYPES.get(cls.__name__) is cls:
            return {"$": "builtin_type", "name": cls.__name__}
        raise TypeError(f"cannot save {path}: it holds the class {_class_path(cls)}; the model "
                        "format stores NumPy scalar types and float/int/bool/str/complex only")

    def _array(self, value, path):
        seen = self._array_nodes.get(id(value))
        if seen is not None:
            return seen[1]
        host, namespace, device = _host_array(value)
        node = {"$": "array"}
        if host.dtype.kind in "OT":
            # Labels such as classes_ of string classes: object arrays of str
            # are stored as fixed-width unicode and converted back.
            items = host.ravel().tolist()
            if not all(isinstance(v, str) for v in items):
                raise TypeError(f"cannot save {path}: an array of Python objects other than "
                                "strings; the model format stores numeric and string arrays")
            node["strings"] = "object" if host.dtype.kind == "O" else "stringdtype"
            host = np.array(items, dtype=str).reshape(host.shape) if items else \
                np.zeros(host.shape, dtype="U1")
        elif host.dtype.hasobject:
            raise TypeError(f"cannot save {path}: a structured array with Python objects")
        node["member"] = self._add_array(host)
        if namespace != "numpy":
            node["namespace"] = namespace
            if device is not None:
                node["device"] = device
        self._array_nodes[id(value)] = (value, node)
        return node

    def _sparse(self, value, path):
        known = self._objects.get(id(value))
        if known is not None:
            return {"$": "ref", "id": known[1]}
        fmt = value.format
        stored = value if fmt in _SPARSE_PARTS else value.tocsr()
        stored_fmt = stored.format
        kind = "array" if isinstance(value, scipy.sparse.sparray) else "matrix"
        node = {"$": "sparse", "id": self._new_id(value), "format": fmt, "container": kind,
                "stored_format": stored_fmt, "shape": [int(n) for n in stored.shape],
                "parts": {part: self._array(np.asarray(getattr(stored, part)), f"{path}.{part}")
                          for part in _SPARSE_PARTS[stored_fmt]}}
        if stored_fmt == "bsr":
            node["blocksize"] = [int(n) for n in stored.blocksize]
        return node

    def _generator(self, value, path):
        bit_generator = value.bit_generator
        name = type(bit_generator).__name__
        if name not in _BIT_GENERATORS:
            raise TypeError(f"cannot save {path}: a Generator on the bit generator {name}")
        seed = bit_generator.seed_seq
        seed_node = None
        if isinstance(seed, np.random.SeedSequence):
            seed_node = self.encode({"entropy": seed.entropy, "spawn_key": tuple(seed.spawn_key),
                                     "pool_size": seed.pool_size,
                                     "n_children_spawned": seed.n_children_spawned},
                                    f"{path} seed")
        return {"$": "generator", "bit_generator": name,
                "state": self.encode(bit_generator.state, f"{path} state"), "seed_seq": seed_node}

    # -- objects

    def _new_id(self, value):
        k = len(self._objects)
        self._objects[id(value)] = (value, k)
        return k

    def _object(self, value, path):
        cls = type(value)
        known = self._objects.get(id(value))
        if known is not None:
            return {"$": "ref", "id": known[1]}
        reason = _check_allowed_class(cls)
        if reason is not None or not hasattr(value, "__dict__"):
            why = "" if reason is None else f": {reason}"
            raise TypeError(
                f"cannot save {path}: it holds a {_class_path(cls)}, which the model format does "
                "not store (it stores numbers, strings, None, lists, tuples, dicts, NumPy/CuPy "
                "arrays and scalars, SciPy sparse matrices, NumPy random generators, and objects "
                f"of the reservoir package and scikit-learn estimators){why}"
            )
        node = {"$": "object", "id": self._new_id(value), "module": _public_module(cls),
                "class": cls.__qualname__}
        state = value.__getstate__() if hasattr(value, "__getstate__") else value.__dict__
        if not isinstance(state, dict):
            raise TypeError(f"cannot save {path}: {_class_path(cls)}.__getstate__ returned a "
                            f"{type(state).__name__}, not a dict of attributes")
        state = dict(state)
        statistics = _TRAINING_STATISTICS + tuple(getattr(cls, "_training_statistics", ()))
        if not self.keep_statistics:
            for name in statistics:
                state.pop(name, None)
        if hasattr(value, "get_params") and hasattr(cls, "_get_param_names"):
            params = value.get_params(deep=False)
            node["params"] = {name: self.encode(v, f"{path}.{name}") for name, v in params.items()}
            state = {k: v for k, v in state.items() if not (k in params and v is params[k])}
        node["state"] = {str(k): self.encode(v, f"{path}.{k}") for k, v in state.items()
                         if isinstance(k, str)}
        if len(node["state"]) != len(state):
            raise TypeError(f"cannot save {path}: its state has attribute names that are not "
                            "strings")
        return node


# ---------------------------------------------------------------------------------- decoding

class _Decoder:
    """Builds the object tree back from JSON nodes and the archive's arrays."""

    def __init__(self, archive, n_arrays, device, file_size):
        self.archive = archive
        self.n_arrays = n_arrays
        self.device = device
        # What the file's own bytes can account for: no size it claims
        # (a seed pool, a sparse matrix's dimensions) may exceed it.
        self.file_size = file_size
        self._arrays = {}
        self._objects = {}
        self._where = []

    def where(self):
        return "".join(self._where) or "model"

    def _bounded(self, what, n_bytes):
        if not isinstance(n_bytes, int) or n_bytes > self.file_size:
            raise ValueError(f"the model file's {self.where()} claims {what} ({n_bytes} bytes), "
                             f"more than the file's {self.file_size} bytes can hold")

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            out = []
            for i, v in enumerate(node):
                self._where.append(f"[{i}]")
                out.append(self.decode(v))
                self._where.pop()
            return out
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise ValueError(f"the model file holds a value load does not understand: {node!r:.80}")
        kind = node["$"]
        method = getattr(self, "_decode_" + kind, None)
        if method is None:
            raise ValueError(f"the model file holds a value of unknown kind {kind!r}")
        return method(node)

    def _decode_float(self, node):
        value = node["value"]
        if value not in ("nan", "inf", "-inf"):
            raise ValueError(f"the model file holds an invalid float {value!r}")
        return float(value)

    def _decode_tuple(self, node):
        return tuple(self.decode(v) for v in node["items"])

    def _decode_dict(self, node):
        out = {}
        for key, value in node["items"]:
            key = self.decode(key)
            self._where.append(f"[{key!r:.40}]")
            value = self.decode(value)
            self._where.pop()
            try:
                out[key] = value
            except TypeError as exc:   # an unhashable key
                raise ValueError(f"the model file holds an invalid dict key {key!r:.80}") from exc
        return out

    def _decode_set(self, node):
        return {self.decode(v) for v in node["items"]}

    def _decode_frozenset(self, node):
        return frozenset(self.decode(v) for v in node["items"])

    def _decode_complex(self, node):
        real, imag = (self.decode(v) for v in node["value"])
        return complex(real, imag)

    def _decode_bytes(self, node):
        return bytes.fromhex(node["hex"])

    def _decode_scalar(self, node):
        dtype = np.dtype(node["dtype"])
        if "array" in node:
            return self._decode_array(node["array"])[()]
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            # What save writes as a JSON value; others are stored as arrays.
            raise ValueError(f"the model file's {self.where()} holds a scalar of dtype {dtype} "
                             "as a JSON value, which save never writes")
        return dtype.type(self.decode(node["value"]))

    def _decode_dtype(self, node):
        if "descr" in node:
            return np.dtype(self.decode(node["descr"]))
        return np.dtype(node["str"])

    def _decode_numpy_type(self, node):
        cls = getattr(np, node["name"], None)
        if not (isinstance(cls, type) and issubclass(cls, np.generic)):
            raise ValueError(f"the model file names an unknown NumPy type {node['name']!r}")
        return cls

    def _decode_builtin_type(self, node):
        if node["name"] not in _BUILTIN_TYPES:
            raise ValueError(f"the model file names an unknown type {node['name']!r}")
        return _BUILTIN_TYPES[node["name"]]

    def _read_member(self, index):
        if not isinstance(index, int) or not 0 <= index < self.n_arrays:
            raise ValueError(f"the model file refers to array {index!r}, which it does not hold")
        if index not in self._arrays:
            self._arrays[index] = _read_npy(self.archive, f"arrays/{index}.npy", self.file_size)
        return self._arrays[index]

    def _decode_array(self, node):
        key = ("array", node["member"])
        if key in self._objects:
            return self._objects[key]
        a = self._read_member(node["member"])
        strings = node.get("strings")
        if strings == "object":
            a = a.astype(object)
        elif strings == "stringdtype":
            a = a.astype(np.dtypes.StringDType())
        if node.get("namespace", "numpy") != "numpy" and self.device is not None:
            a = _to_device(a, self.device)
        self._objects[key] = a
        return a

    def _decode_sparse(self, node):
        fmt, stored_fmt = node["format"], node["stored_format"]
        if stored_fmt not in _SPARSE_PARTS:
            raise ValueError(f"the model file holds a sparse matrix of unknown format {stored_fmt!r}")
        parts = [self._decode_array(node["parts"][p]) for p in _SPARSE_PARTS[stored_fmt]]
        for name, part in zip(_SPARSE_PARTS[stored_fmt][1:], parts[1:], strict=True):
            if not (isinstance(part, np.ndarray) and part.dtype.kind in "iu"):
                raise ValueError(f"the model file's {self.where()}.{name} must be an integer "
                                 f"array, found dtype {getattr(part, 'dtype', type(part))}")
        shape = node["shape"]
        if not (isinstance(shape, list) and len(shape) == 2 and all(
                isinstance(n, int) and 0 <= n <= self.file_size for n in shape)):
            raise ValueError(f"the model file's {self.where()} is a sparse matrix of shape "
                             f"{shape!r:.80}: expected two sizes within the file's "
                             f"{self.file_size} bytes")
        shape = tuple(shape)
        container = node["container"]
        if container not in ("array", "matrix"):
            raise ValueError(f"the model file holds a sparse {container!r}")
        cls = getattr(scipy.sparse, f"{stored_fmt}_{container}")
        try:
            M = self._build_sparse(cls, stored_fmt, parts, shape, node)
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"the model file's {self.where()} is an invalid sparse matrix: "
                             f"{exc}") from exc
        if fmt != stored_fmt:
            if fmt not in ("lil", "dok", "dia"):
                raise ValueError(f"the model file holds a sparse matrix of unknown format {fmt!r}")
            self._bounded(f"a {fmt} matrix of shape {shape}", _conversion_bytes(M, fmt))
            M = M.asformat(fmt)
        self._objects[node["id"]] = M
        return M

    @staticmethod
    def _build_sparse(cls, stored_fmt, parts, shape, node):
        if stored_fmt == "coo":
            M = cls((parts[0], (parts[1], parts[2])), shape=shape)
        else:
            check_nnz(parts[2], parts[1], parts[0])
            kw = {"blocksize": tuple(node["blocksize"])} if stored_fmt == "bsr" else {}
            M = cls(tuple(parts), shape=shape, **kw)
        if stored_fmt != "coo":
            # Out-of-range indices would make SciPy's compiled products read
            # out of bounds: check them all.
            M.check_format(full_check=True)
        elif parts[1].size and (parts[1].min() < 0 or parts[1].max() >= shape[0]
                                or parts[2].min() < 0 or parts[2].max() >= shape[1]):
            raise ValueError("indices out of range")
        return M

    def _decode_generator(self, node):
        name = node["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise ValueError(f"the model file names an unknown bit generator {name!r}")
        seed = self.decode(node["seed_seq"])
        cls = getattr(np.random, name)
        if seed is None:
            bit_generator = cls()
        else:
            # SeedSequence allocates its pool (4 bytes a word) from the claim.
            self._bounded(f"a seed pool of {seed['pool_size']!r:.40} words",
                          4 * seed["pool_size"] if type(seed["pool_size"]) is int else None)
            bit_generator = cls(np.random.SeedSequence(
                seed["entropy"], spawn_key=seed["spawn_key"], pool_size=seed["pool_size"],
                n_children_spawned=seed["n_children_spawned"]))
        bit_generator.state = self.decode(node["state"])
        return np.random.Generator(bit_generator)

    def _decode_random_state(self, node):
        state = self.decode(node["state"])
        bit_generator = np.random.MT19937()
        bit_generator.state = state
        return np.random.RandomState(bit_generator)

    def _decode_ref(self, node):
        try:
            return self._objects[node["id"]]
        except KeyError:
            raise ValueError(f"the model file refers to object {node['id']!r} before defining "
                             "it") from None

    def _decode_object(self, node):
        cls = _resolve_class(node["module"], node["class"])
        if not self._where:
            self._where.append(cls.__name__)
        if "params" in node:
            params = {name: self.decode(v) for name, v in node["params"].items()}
            known = set(cls._get_param_names())
            unknown = sorted(set(params) - known)
            if unknown:
                raise ValueError(
                    f"the model file's {cls.__name__} has parameters {unknown} that "
                    f"{_class_path(cls)} of this installation does not take; it was written by "
                    "another version of the package"
                )
            # __init__ only stores its arguments (scikit-learn's convention);
            # parameters added since the file was written take their defaults.
            obj = cls(**params)
        else:
            obj = cls.__new__(cls)
        self._objects[node["id"]] = obj
        state = dict(obj.__dict__)
        for name, v in node["state"].items():
            self._where.append(f".{name}")
            state[name] = self.decode(v)
            self._where.pop()
        self._check(cls, state)
        if hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj

    def _check(self, cls, state):
        """The schema of ``cls`` on ``state``, before the object is set up from it.

        A class of the package checks its parameters and fitted state
        (``_check_consistency``, see :mod:`reservoir._schema`); a
        scikit-learn estimator its parameters (``_validate_params``). The
        check runs on a bare object holding the state, so that nothing is
        derived from a state that is not yet known to be consistent.
        """
        probe = cls.__new__(cls)
        probe.__dict__.update(state)
        try:
            if callable(getattr(cls, "_check_consistency", None)):
                probe._check_consistency()
            elif hasattr(cls, "_parameter_constraints"):
                probe._validate_params()
        except (ValueError, TypeError, AttributeError, KeyError, IndexError,
                ArithmeticError) as exc:
            where = self.where()
            named = where if where == cls.__name__ else f"{where} ({cls.__name__})"
            raise ValueError(f"the model file's {named} is not a consistent model: {exc}") from exc


def _conversion_bytes(M, fmt):
    """About what converting COO/CSR ``M`` to ``fmt`` allocates (lil: a list per row,
    dia: a dense row per diagonal)."""
    M = M.tocoo()
    if fmt == "lil":
        return 64 * (M.shape[0] + M.nnz)
    if fmt == "dia":
        diagonals = np.unique(M.col.astype(np.int64) - M.row.astype(np.int64)).size
        return int(diagonals) * int(M.shape[1]) * M.dtype.itemsize
    return 128 * int(M.nnz)


def _read_npy(archive, name, file_size):
    """The array of member ``name``, read without pickle after checking its header.

    The header's shape and dtype must account for the member's size exactly,
    so that a forged header cannot make the reader allocate more than the
    file holds; an object dtype (a pickle in disguise) is refused, and so are
    an element type of no bytes and a dimension longer than the file (which
    only an empty array could claim), whose arrays the file cannot bound.
    """
    info = archive.getinfo(name)
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"the model file's {name} has .npy version {version}, which save "
                             "never writes")
        if dtype.hasobject:
            raise ValueError(f"the model file's {name} holds Python objects, which only "
                             "unpickling could read; load reads arrays with allow_pickle=False")
        if dtype.itemsize == 0 or any(n > file_size for n in shape):
            raise ValueError(f"the model file's {name} declares {shape} {dtype}, which its "
                             f"{file_size} bytes cannot account for")
        n_bytes = dtype.itemsize * math.prod(shape)
        if info.file_size - f.tell() != n_bytes:
            raise ValueError(f"the model file's {name} declares {shape} {dtype} "
                             f"({n_bytes} bytes) but holds {info.file_size - f.tell()}")
        buffer = np.empty(n_bytes, dtype=np.uint8)
        view, done = memoryview(buffer), 0
        while done < n_bytes:
            got = f.readinto(view[done:])
            if not got:
                raise ValueError(f"the model file's {name} ends early")
            done += got
    return buffer.view(dtype).reshape(shape, order="F" if fortran else "C")


def _to_device(a, device):
    """Host array ``a`` as a CuPy array on ``device`` ("cuda", "cuda:N", an int or a Device)."""
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            f"load(..., device={device!r}) puts the model's arrays on a GPU with CuPy, which is not "
            "installed (pip install 'reservoir-esn[cuda12]' on a CUDA machine)"
        ) from exc
    if isinstance(device, str):
        if device == "cuda":
            index = cupy.cuda.runtime.getDevice()
        elif device.startswith("cuda:") and device[5:].isdigit():
            index = int(device[5:])
        else:
            raise ValueError(f"device must be None (the host), 'cuda', 'cuda:N', an int or a "
                             f"cupy.cuda.Device, got {device!r}")
    else:
        index = int(getattr(device, "id", device))
    with cupy.cuda.Device(index):
        return cupy.asarray(a)


def _check_device(device):
    if device is None or device in ("cpu", "host"):
        return None
    if isinstance(device, bool) or not (
            isinstance(device, (str, int, np.integer)) or type(device).__module__.startswith("cupy")):
        raise TypeError(f"device must be None (the host), 'cuda', 'cuda:N', an int or a "
                        f"cupy.cuda.Device, got {device!r}")
    if isinstance(device, str) and not (device == "cuda" or (
            device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device must be None (the host), 'cuda', 'cuda:N', an int or a "
                         f"cupy.cuda.Device, got {device!r}")
    return device


# ---------------------------------------------------------------------------------- files

def _comment(digest_hex):
    return _MAGIC + f"format_version={FORMAT_VERSION}\n".encode() + _CHECKSUM_KEY + digest_hex


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:     # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _library_versions():
    import sklearn

    from . import __version__

    return {"reservoir": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__}


def save(estimator, path, *, keep_statistics=False):
    """Write a model to a file that :func:`load` reads back without pickle.

    Parameters, fitted arrays, nested estimators and reservoirs are written
    as JSON and ``.npy`` arrays in a zip archive with a format version and a
    SHA-256 checksum (see :mod:`reservoir.persistence` for the layout). The
    write is atomic: a temporary file in the same folder is flushed to disk
    and renamed over ``path``, so a save that fails leaves an earlier file at
    ``path`` as it was.

    Parameters
    ----------
    estimator : estimator of this package or of scikit-learn
        Fitted or not; a pipeline of such estimators too.
    path : str or os.PathLike
        The file to write (replaced if it exists).
    keep_statistics : bool, default=False
        Whether to store the state that only serves to continue training (a
        ridge readout's Gram matrix X^T X, of size F^2 for F readout
        features: for 1000 units, 8 MB against 8 kB of readout weights).
        Keep it to call ``partial_fit`` on the loaded model and continue
        where the saved one stopped; without it, ``partial_fit`` on the
        loaded model starts a new training stream, while predictions and
        forecasts are the same either way.

    Raises
    ------
    TypeError
        If a parameter or fitted attribute holds a value the format does not
        store (a function, an object of another package); the message names
        the attribute.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from reservoir import ESNRegressor, load, save
    >>> series = np.sin(np.arange(600) * 0.1)[:, None]
    >>> esn = ESNRegressor(n_units=50, washout=50, random_state=0).fit(series[:-1], series[1:])
    >>> path = os.path.join(tempfile.mkdtemp(), "esn.rsv")
    >>> save(esn, path)
    >>> bool(np.array_equal(load(path).forecast(20), esn.forecast(20)))
    True
    """
    if not isinstance(keep_statistics, (bool, np.bool_)):
        raise TypeError(f"keep_statistics must be True or False, got {keep_statistics!r}")
    if isinstance(estimator, type) or _check_allowed_class(type(estimator)) is not None:
        raise TypeError(
            f"save writes estimators of the reservoir package and scikit-learn, got "
            f"{estimator!r:.80} of type {_class_path(type(estimator))}"
        )
    path = os.fspath(path)
    encoder = _Encoder(bool(keep_statistics))
    root = encoder.encode(estimator, type(estimator).__name__)
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "written_by": _library_versions(), "statistics_kept": bool(keep_statistics),
                "n_arrays": len(encoder.arrays), "root": root}
    text = json.dumps(document, indent=1, allow_nan=False).encode()

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as f:
            _write_archive(f, text, encoder.arrays)
            f.flush()
            os.fsync(f.fileno())
        mode = (os.stat(path).st_mode & 0o777 if os.path.exists(path)
                else 0o666 & ~_current_umask())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _member(name):
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_archive(f, text, arrays):
    """The zip archive into the open file ``f``, then its checksum into the comment."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.comment = _comment(b"0" * _DIGEST_LENGTH)
        archive.writestr(_member(_MODEL_MEMBER), text)
        for i, a in enumerate(arrays):
            big = a.nbytes > (1 << 31)
            with archive.open(_member(f"arrays/{i}.npy"), "w", force_zip64=big) as out:
                np.lib.format.write_array(out, a, allow_pickle=False)
    # The comment has a fixed length and comes last: the digest covers every
    # byte before it, the zip's end record (which states the comment's length)
    # included.
    size = f.seek(0, os.SEEK_END)
    covered = size - len(_comment(b"0" * _DIGEST_LENGTH))
    digest = _file_digest(f, covered)
    f.seek(size - _DIGEST_LENGTH)
    f.write(digest.encode())


def _file_digest(f, n_bytes):
    """SHA-256 (hex) of the first ``n_bytes`` of the open file ``f``."""
    sha = hashlib.sha256()
    f.seek(0)
    left = n_bytes
    while left > 0:
        block = f.read(min(left, 1 << 20))
        if not block:
            break
        sha.update(block)
        left -= len(block)
    return sha.hexdigest()


def _damaged(path, what):
    return ValueError(f"{path} is a damaged model file: {what}. It may be truncated or corrupted "
                      "in transfer or on disk; save the model again or restore the file from a copy")


def load(path, *, device=None):
    """Read a model written by :func:`save`, without unpickling or running code from the file.

    The file's checksum is verified before anything in it is interpreted;
    the only classes instantiated are this package's and scikit-learn's
    estimators (and this package's reservoirs and readouts), looked up by
    module and name; arrays are read with ``allow_pickle=False``. The
    checksum tells accidents, not authors, apart, so nothing in the file is
    trusted either: every size it claims is bounded by the file's size
    before anything is allocated, and every object's state is checked
    against its class's schema (``_check_consistency``, see
    :mod:`reservoir._schema`: shapes in the model's own sizes, dtypes, CSR
    structure, parameters with ``fit``'s checks, attributes against each
    other) before it is set up. This makes ``load`` the safe choice for a
    model file from someone else, where ``pickle.load`` and ``joblib.load``
    would run any code the file names: loading runs no code from the file,
    allocates no more than the file's size allows, and gives no model that
    could crash the process.

    Parameters
    ----------
    path : str or os.PathLike
    device : None, "cuda", "cuda:N", int or cupy.cuda.Device, optional
        Where the arrays that were on a GPU when saved (a model fitted on
        CuPy arrays) go: None loads them on the host as NumPy arrays, so
        the model runs anywhere; a device needs CuPy. Weights that the
        estimators keep on the host stay there in either case.

    Returns
    -------
    estimator
        An object of the class that was saved, with the same parameters and
        fitted state: its predictions are those of the saved model.

    Raises
    ------
    ValueError
        If the file is empty, is not a model file (a pickle or another
        format), is damaged (truncated, bit flips: the checksum does not
        match), was written by a newer format version than this package
        reads, or describes a model that is not consistent (the message
        names the attribute, what was expected and what was found).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from reservoir import RidgeReadout, load, save
    >>> readout = RidgeReadout().fit(np.eye(3), [1.0, 2.0, 3.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "readout.rsv")
    >>> save(readout, path, keep_statistics=True)     # to go on with partial_fit
    >>> load(path).partial_fit(np.eye(3), [1.0, 2.0, 3.0]).predict(np.eye(3)).round(3)
    array([1., 2., 3.])
    """
    device = _check_device(device)
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if not head:
            raise ValueError(f"{path} is empty (0 bytes), not a model file; was the save "
                             "interrupted before this file was written?")
        if head[:1] == b"\x80":
            raise ValueError(
                f"{path} is a pickle (or joblib) file, not a model file of reservoir.save. load "
                "never unpickles, because unpickling runs code named by the file; if you trust "
                "its origin, read it with pickle.load or joblib.load"
            )
        if head != _ZIP_SIGNATURE:
            raise ValueError(
                f"{path} is not a model file of reservoir.save: it does not start with the zip "
                f"signature PK\\x03\\x04 (its first bytes are {head!r})"
            )
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _damaged(path, f"its zip directory cannot be read ({exc})") from exc
        with archive:
            return _read_archive(archive, f, path, device)


def _read_archive(archive, f, path, device):
    comment = archive.comment
    if not comment.startswith(_MAGIC):
        raise ValueError(
            f"{path} is a zip archive but not a model file of reservoir.save (its archive comment "
            f"does not start with {FORMAT_NAME!r}; an .npz of arrays or a skops file is read with "
            "its own library)"
        )
    fields = {}
    for line in comment[len(_MAGIC):].split(b"\n"):
        key, _, value = line.partition(b"=")
        fields[key.decode("ascii", "replace")] = value
    try:
        version = int(fields.get("format_version", b""))
    except ValueError:
        raise _damaged(path, "its format version is unreadable") from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in model format version {version}, newer than the version "
            f"{FORMAT_VERSION} this installation of reservoir reads; upgrade reservoir to load it"
        )
    if version < 1:
        raise _damaged(path, f"its format version {version} does not exist")
    expected = fields.get("sha256", b"")
    size = f.seek(0, os.SEEK_END)
    covered = size - len(comment)
    if len(expected) != _DIGEST_LENGTH or not _ends_with(f, size, comment):
        raise _damaged(path, "its checksum is missing")
    actual = _file_digest(f, covered)
    if actual.encode() != expected:
        raise _damaged(path, f"its SHA-256 checksum does not match its content (expected "
                       f"{expected.decode('ascii', 'replace')}, computed {actual})")

    try:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _damaged(path, "it holds a member twice")
        if any(info.compress_type != zipfile.ZIP_STORED for info in infos):
            raise _damaged(path, "it holds compressed members, which the format never writes")
        if _MODEL_MEMBER not in names:
            raise _damaged(path, f"it has no {_MODEL_MEMBER}")
        # Headers may claim any size (zip64 allows 2^64 bytes): each member
        # must lie within the file before anything is read from it.
        if any(info.file_size != info.compress_size
               or info.header_offset + info.file_size > covered for info in infos):
            raise _damaged(path, "a member claims more bytes than the file holds")
        document = json.loads(archive.read(_MODEL_MEMBER).decode("utf-8"))
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise _damaged(path, f"its {_MODEL_MEMBER} is not a {FORMAT_NAME} description")
        if document.get("format_version") != version:
            raise _damaged(path, "its two format versions differ")
        n_arrays = document["n_arrays"]
        if not isinstance(n_arrays, int) or n_arrays != len(names) - 1:
            raise _damaged(path, "its members are not those its description lists")
        expected_names = {_MODEL_MEMBER} | {f"arrays/{i}.npy" for i in range(n_arrays)}
        if set(names) != expected_names:
            raise _damaged(path, "its members are not those its description lists")
        return _Decoder(archive, n_arrays, device, size).decode(document["root"])
    except (zipfile.BadZipFile, EOFError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError,
            AttributeError, OverflowError, RecursionError) as exc:
        # The checksum matched: the file is as it was written, but not by save.
        raise ValueError(f"{path} holds a model description that load cannot read "
                         f"({type(exc).__name__}: {exc}); was it written by reservoir.save?") from exc


def _ends_with(f, size, tail):
    if size < len(tail):
        return False
    f.seek(size - len(tail))
    return f.read(len(tail)) == tail
