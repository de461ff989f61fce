"""reservoir.load on forged model files: well sealed (the checksum recomputed), structurally wrong.

A hostile author can write any file in the package's own format, so the
checksum proves nothing about what the JSON and the arrays say about each
other. Every forgery here is a fitted model's file with one structural
fact changed (an array's shape or dtype, a sparse matrix's structure, a
member pointing at another array, a scalar out of its range or of another
type, an attribute removed, a size claimed beyond the file) and resealed.
Each is loaded and then used (predict, forecast, score, ...) in a
subprocess, so that a crash fails the test instead of killing the suite;
the outcome of each must be one of

* refused at load with a ValueError, or
* loaded, and every output equal to the original model's,

and nothing else (an error at use, other outputs, a crash). Value-level
changes that leave the structure valid (another finite weight, a swap of two
arrays of the same shape and dtype, a parameter changed to another valid
value) make another valid model, not a forgery, and are not generated.

The default run samples a few hundred forgeries over every public estimator
(about 20 seconds); ``pytest -m slow tests/test_hostile_files.py`` runs
every generated forgery (several thousand).
"""

import copy
import io
import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from test_persistence import (  # noqa: E402
    _fit,
    _outputs,
    _public_estimator_classes,
    _reseal,
    _small_instance,
    _walk,
)

# ------------------------------------------------------------------------------ the format


def read_model(path):
    """(model.json as a dict, list of arrays) of a model file."""
    with zipfile.ZipFile(path) as z:
        doc = json.loads(z.read("model.json"))
        arrays = [np.load(io.BytesIO(z.read(f"arrays/{i}.npy")), allow_pickle=False)
                  for i in range(doc["n_arrays"])]
    return doc, arrays


def write_model(path, doc, arrays):
    """A sealed model file of ``doc`` and ``arrays``, written as save writes one."""
    from reservoir.persistence import _write_archive

    doc = dict(doc, n_arrays=len(arrays))
    with open(path, "w+b") as f:
        _write_archive(f, json.dumps(doc).encode(), arrays)


# ------------------------------------------------------------------------------ forgeries

def _at(doc, path):
    node = doc
    for key in path:
        node = node[key]
    return node


def _sites(node, path=()):
    """(path, node) of every dict and leaf of the tree, depth first."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _sites(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _sites(v, path + (i,))


def _label(path):
    """A readable name for a position in the tree: the attribute names along it."""
    names = [str(k) for k in path if isinstance(k, str) and k not in
             ("state", "params", "items", "root", "parts")]
    return ".".join(names) or "root"


def _reshaped(a):
    """Arrays of other shapes made from ``a`` (rows added and removed, axes changed)."""
    out = {}
    if a.ndim >= 1:
        out["one more row"] = np.concatenate([a, a[:1]], axis=0) if a.shape[0] else \
            np.zeros((1,) + a.shape[1:], a.dtype)
        out["5000 rows"] = np.resize(a, (5000,) + a.shape[1:]) if a.size else \
            np.zeros((5000,) + a.shape[1:], a.dtype)
        out["no rows"] = a[:0]
        if a.shape[0] > 1:
            out["one row fewer"] = a[:-1]
        out["an extra axis"] = a[None]
        out["flattened to 0-d"] = a.reshape(-1)[:1].reshape(()) if a.size else np.zeros((), a.dtype)
    if a.ndim >= 2:
        out["one more column"] = np.concatenate([a, a[:, :1]], axis=1)
        out["3 columns more"] = np.concatenate([a] + [a[:, :1]] * 3, axis=1)
        if a.shape[1] > 1:
            out["one column fewer"] = a[:, :-1]
        out["raveled"] = a.reshape(-1)
        if a.shape[0] != a.shape[1]:
            out["transposed"] = np.ascontiguousarray(a.T)
    if a.ndim == 0:
        out["1-D"] = a.reshape(1)
    return out


def _retyped(a):
    """``a`` in other dtypes (with the same values where they can hold them)."""
    out = {}
    for dtype in ("float32", "int64", "int32", "uint8", "complex128", "bool", "float16", ">f8",
                  "<U3", "float64"):
        if np.dtype(dtype) == a.dtype or a.dtype.kind in "US" and dtype not in ("int64", "<U3"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[f"as {dtype}"] = a.astype(dtype)
        except (TypeError, ValueError):
            pass
    if a.dtype.kind == "f" and a.size:
        bad = a.copy()
        bad.reshape(-1)[0] = np.nan
        out["a NaN in it"] = bad
        bad = a.copy()
        bad.reshape(-1)[-1] = np.inf
        out["an infinity in it"] = bad
    return out


# Replacements of a scalar: any value of another type, and the extremes of its own.
_OTHER_TYPES = {
    "2": 2, "-1": -1, "0.5": 0.5, "nan": {"$": "float", "value": "nan"}, "'os.system'": "os.system",
    "None": None, "True": True, "[1]": [1], "an empty tuple": {"$": "tuple", "items": []},
    "a dict": {"$": "dict", "items": [[1, 2]]}, "an array": {"$": "array", "member": 0},
}
_EXTREMES = {
    int: {"-1": -1, "0": 0, "10**30": 10**30},
    float: {"nan": {"$": "float", "value": "nan"}, "inf": {"$": "float", "value": "inf"},
            "-1.0": -1.0, "1e308": 1e308},
    str: {"'os.system'": "os.system"},
}
# Arrays of labels hold data (another dtype of labels is another valid model):
# their shapes are forged, not their values.
_LABELS = ("classes_", "feature_names_in_")


def _scalar_type(value):
    if isinstance(value, dict) and value.get("$") == "float":
        return float
    return type(value)


# A washout longer than any series is a valid setting (score and transform
# then have no step left to use), not a forgery.
_VALID_WHEN_LARGE = ("washout",)


def _replacements(value, name):
    kind = _scalar_type(value)
    out = {w: r for w, r in _OTHER_TYPES.items() if _scalar_type(r) is not kind}
    out.update(_EXTREMES.get(kind, {}))
    if name in _VALID_WHEN_LARGE:
        out.pop("10**30", None)
    return {w: r for w, r in out.items() if r != value}


def forgeries(doc, arrays):
    """Every forgery of a model file, as (description, make): ``make()`` gives (doc, arrays).

    The forgeries are listed cheaply and built only when made, so that a
    sample of them costs only what it uses.
    """
    root = doc["root"]
    array_nodes = [(p, n) for p, n in _sites(root) if isinstance(n, dict) and n.get("$") == "array"]
    sparse_nodes = [(p, n) for p, n in _sites(root) if isinstance(n, dict) and n.get("$") == "sparse"]
    objects = [(p, n) for p, n in _sites(root) if isinstance(n, dict) and n.get("$") == "object"]

    def edit(path, change):
        def make():
            d = copy.deepcopy(doc)
            extra = change(_at(d["root"], path))
            return d, arrays + ([extra] if isinstance(extra, np.ndarray) else [])
        return make

    def member(path, build):
        # The forged array becomes a new member, so that only this reference
        # changes (a member shared with another attribute stays for it).
        def change(node):
            node["member"] = len(arrays)
            return build()
        return edit(path, change)

    def setter(key, value):
        return lambda node: node.__setitem__(key, copy.deepcopy(value))

    for path, node in array_nodes:
        a = arrays[node["member"]]
        label = _label(path)
        index = "parts" in path or label.endswith("neighbourhoods_")
        for what, build in _array_variants(a, retype=not label.endswith(_LABELS), index=index):
            yield f"{label}: {what}", member(path, build)
        for other, b in enumerate(arrays):
            if other != node["member"] and (b.shape != a.shape or b.dtype != a.dtype):
                yield (f"{label}: pointing at array {other} {b.shape} {b.dtype}",
                       edit(path, setter("member", other)))
    for path, node in sparse_nodes:
        n_rows, n_cols = node["shape"]
        for what, key, value in [
            ("shape one row more", "shape", [n_rows + 1, n_cols]),
            ("shape one column fewer", "shape", [n_rows, n_cols - 1]),
            ("shape 10**9 x 10**9", "shape", [10**9, 10**9]),
            ("shape of three sizes", "shape", [n_rows, n_cols, 1]),
            ("stored as csc", "stored_format", "csc"),
            ("stored as coo", "stored_format", "coo"),
            ("converted to dia", "format", "dia"),
            ("converted to lil", "format", "lil"),
            ("a container 'os.system'", "container", "os.system"),
        ]:
            yield f"{_label(path)}: {what}", edit(path, setter(key, value))
        yield (f"{_label(path)}: a bsr blocksize of 10**6",
               edit(path, lambda n: n.update(stored_format="bsr", blocksize=[10**6, 10**6])))
        indptr = arrays[node["parts"]["indptr"]["member"]] if "indptr" in node["parts"] else None
        if indptr is not None and indptr.size > 3:
            for what, bad in [
                ("indptr not monotone", np.concatenate([indptr[:1], indptr[2:3], indptr[1:2],
                                                        indptr[3:]])),
                ("indptr not from 0", indptr + 1),
                ("indptr short of nnz", np.minimum(indptr, indptr[-1] - 1)),
                ("indptr beyond nnz", indptr + np.arange(indptr.size, dtype=indptr.dtype)),
            ]:
                yield (f"{_label(path)}.indptr: {what}",
                       member(path + ("parts", "indptr"), lambda bad=bad: bad.astype(indptr.dtype)))
    for path, node in objects:
        for section in ("params", "state"):
            for name, value in node.get(section, {}).items():
                if isinstance(value, dict) and value.get("$") not in ("float", None):
                    continue
                for what, replacement in _replacements(value, name).items():
                    yield (f"{_label(path + (name,))} = {what}",
                           edit(path + (section,), setter(name, replacement)))
        for name in node["state"]:
            yield (f"{_label(path + (name,))} removed",
                   edit(path + ("state",), lambda n, name=name: n.pop(name) and None))
    for path, node in _sites(root):
        if isinstance(node, dict) and node.get("$") == "generator" and node.get("seed_seq"):
            for size in (10**9, 2**62, -1, 0.5):
                yield (f"{_label(path)}: seed pool_size {size}",
                       edit(path + ("seed_seq", "items"), lambda items, size=size: [
                           item.__setitem__(1, size) for item in items
                           if item[0] == "pool_size"] and None))
            break


def _array_variants(a, *, retype, index):
    """(description, build) of arrays replacing ``a``: other shapes, dtypes, values."""
    out = [(what, lambda b=b: b) for what, b in _reshaped(a).items()]
    if retype:
        out += [(what, lambda b=b: b) for what, b in _retyped(a).items()]
    if index and a.dtype.kind in "iu" and a.size:
        for what, position, value in [("an index -1 (or the largest)", 0, -1),
                                      ("an index 10**6", -1, 10**6)]:
            def build(position=position, value=value):
                bad = a.astype(np.int64)
                bad.reshape(-1)[position] = value
                return bad.astype(a.dtype) if value >= 0 or a.dtype.kind == "i" else \
                    np.full(a.shape, np.iinfo(a.dtype).max, a.dtype)
            out.append((what, build))
    return out


def _known_variants(doc, arrays):
    """The kinds of forgery that were found loading, as (description, make)."""
    return [f for f in forgeries(doc, arrays) if any(key in f[0] for key in (
        "5000 rows", "one more column", "final_state_: one", "coef_: one more row",
        "intercept_: one more row", "leak_rate = 2", "pointing at", "n_features_in_ = 2"))]


# ------------------------------------------------------------------------------ the worker

def _compare(a, b):
    if isinstance(a, float) or np.ndim(a) == 0:
        return bool(np.isclose(float(np.asarray(a)), float(np.asarray(b)), rtol=1e-9,
                               equal_nan=True))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(a, b))


def _uses(est, X):
    """Everything a model computes from X: each method's output, and its score."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _outputs(est, X)
        if callable(getattr(est, "score", None)) and "predict" in out:
            out["score"] = est.score(X, out["predict"])
    return out


def _worker():
    """Read "original<TAB>forged" lines; print one JSON outcome per forged file, flushed."""
    from reservoir import load

    expected = {}
    for line in sys.stdin:
        original, forged = line.rstrip("\n").split("\t")
        if original not in expected:
            X = np.load(original + ".X.npy")
            expected[original] = (X, _uses(load(original), X))
        X, reference = expected[original]
        try:
            est = load(forged)
        except ValueError as exc:
            outcome, why = "refused", str(exc)[:300]
        except Exception as exc:  # noqa: BLE001 - any other error is what the test reports
            outcome, why = "other", f"load raised {type(exc).__name__}: {exc}"[:300]
        else:
            try:
                got = _uses(est, X)
            except Exception as exc:  # noqa: BLE001
                outcome, why = "other", f"loaded, then raised {type(exc).__name__}: {exc}"[:300]
            else:
                same = got.keys() == reference.keys() and all(
                    _compare(got[k], reference[k]) for k in reference)
                outcome, why = ("same", "") if same else ("other", "loaded, other outputs")
        print(json.dumps({"file": forged, "outcome": outcome, "why": why}), flush=True)


def run_forgeries(jobs, timeout=30):
    """Outcomes of (original, forged) file pairs, run in a subprocess that a crash restarts.

    Returns {forged: (outcome, why)}. A file the worker dies on, or spends
    more than ``timeout`` seconds on, is "other" with the reason, and a new
    worker goes on after it.
    """
    import queue
    import threading

    results, pending = {}, list(jobs)
    while pending:
        proc = subprocess.Popen([sys.executable, __file__, "--worker"], cwd=HERE, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        errors = []
        threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
        def feed(text="".join(f"{o}\t{f}\n" for o, f in pending), stdin=proc.stdin):
            try:
                stdin.write(text)
                stdin.close()
            except BrokenPipeError:    # the worker died: reported below
                pass

        threading.Thread(target=feed, daemon=True).start()
        why = None
        while pending:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                why = f"no outcome within {timeout} s"
                break
            if line is None:
                why = f"the process died (exit {proc.wait()}): {''.join(errors[-1:]).strip()}"
                break
            if line.startswith("{"):
                r = json.loads(line)
                results[r["file"]] = (r["outcome"], r["why"])
                pending.pop(0)
        proc.wait()
        if why is not None and pending:
            results[pending.pop(0)[1]] = ("other", why)
    return results


# ------------------------------------------------------------------------------ the models

# Public estimators without a schema of their own (``_check_consistency``),
# with the reason; load still checks the models nested in them.
NO_SCHEMA_YET = {}


def test_every_public_estimator_checks_its_state():
    missing = [cls.__name__ for cls in _public_estimator_classes()
               if not callable(getattr(cls, "_check_consistency", None))]
    assert sorted(missing) == sorted(NO_SCHEMA_YET)

@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """{class name: (model file, doc, arrays)} for every public estimator that save writes."""
    from sklearn.exceptions import ConvergenceWarning

    from reservoir import save

    folder = tmp_path_factory.mktemp("originals")
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in _public_estimator_classes():
            if cls.__name__ in NO_SCHEMA_YET:
                continue
            est = _small_instance(cls)
            X = _fit(est)
            path = folder / f"{cls.__name__}.rsv"
            try:
                save(est, path)
            except TypeError:   # a model the format does not store: nothing to forge
                continue
            np.save(str(path) + ".X.npy", X)
            models[cls.__name__] = (path, *read_model(path))
    return models


def _forge_all(originals, folder, pick=None, seed=0):
    """Write the forgeries (all, or ``pick`` per model at random); return the jobs and labels."""
    rng = np.random.default_rng(seed)
    jobs, labels = [], {}
    for name, (path, doc, arrays) in originals.items():
        found = list(forgeries(doc, arrays))
        if pick is not None and len(found) > pick:
            known = _known_variants(doc, arrays)
            chosen = [found[i] for i in rng.choice(len(found), pick, replace=False)]
            found = known[:pick // 3] + chosen
        for i, (what, make) in enumerate(found):
            forged = folder / f"{name}-{i}.rsv"
            write_model(forged, *make())
            jobs.append((str(path), str(forged)))
            labels[str(forged)] = f"{name}: {what}"
    return jobs, labels


def _report(results, labels):
    counts = {"refused": 0, "same": 0, "other": 0}
    for outcome, _ in results.values():
        counts[outcome] += 1
    bad = [f"{labels[f]} -> {why}" for f, (outcome, why) in results.items() if outcome == "other"]
    return counts, bad


def _check_forgeries(originals, tmp_path, pick):
    jobs, labels = _forge_all(originals, tmp_path, pick=pick)
    results = run_forgeries(jobs)
    counts, bad = _report(results, labels)
    print(f"\n{len(jobs)} forgeries over {len(originals)} estimators: {counts['refused']} refused "
          f"at load, {counts['same']} loaded and behaved like the original, {counts['other']} "
          "anything else")
    assert not bad, "\n".join(bad[:30])
    assert counts["refused"] + counts["same"] == len(jobs)
    return counts


def test_forged_files_are_refused_or_harmless(originals, tmp_path):
    counts = _check_forgeries(originals, tmp_path, pick=24)
    assert counts["refused"] > counts["same"]


@pytest.mark.slow
def test_every_generated_forgery_is_refused_or_harmless(originals, tmp_path):
    counts = _check_forgeries(originals, tmp_path, pick=None)
    assert sum(counts.values()) >= 5000


def test_every_estimator_has_forgeries(originals):
    assert len(originals) >= 18
    for name, (_, doc, arrays) in originals.items():
        assert sum(1 for _ in forgeries(doc, arrays)) > 50, name


# ------------------------------------------------------------------------------ named cases

@pytest.fixture(scope="module")
def esn_file(tmp_path_factory):
    from reservoir import ESNRegressor, save

    t = np.arange(300) * 0.1
    s = np.column_stack([np.sin(t), np.cos(0.7 * t)])
    path = tmp_path_factory.mktemp("esn") / "esn.rsv"
    save(ESNRegressor(n_units=20, random_state=0).fit(s[:-1], s[1:]), path)
    return path


def _forge(tmp_path, source, change):
    doc, arrays = read_model(source)
    change(doc, arrays)
    path = tmp_path / "forged.rsv"
    write_model(path, doc, arrays)
    return path


def _point(doc, arrays, path, array):
    node = _at(doc["root"], path)
    arrays.append(array)
    node["member"] = len(arrays) - 1


RES = ("state", "reservoir_", "state")
READOUT = ("state", "readout_", "state")


@pytest.mark.parametrize("what, change, member", [
    ("W_in and bias of 5,000 rows", lambda d, a: (
        _point(d, a, RES + ("W_in",), np.ones((5000, 2))),
        _point(d, a, RES + ("bias",), np.ones(5000))), "W_in"),
    ("W_in wider than the features", lambda d, a: _point(
        d, a, RES + ("W_in",), np.ones((20, 3))), "n_features"),
    ("final_state_ of 3 values", lambda d, a: _point(
        d, a, ("state", "final_state_"), np.ones(3)), "final_state_"),
    ("final_state_ of 5,000 values", lambda d, a: _point(
        d, a, ("state", "final_state_"), np.ones(5000)), "final_state_"),
    ("_final_state of 5,000 units", lambda d, a: _point(
        d, a, ("state", "_final_state"), np.ones((1, 5000))), "_final_state"),
    ("coef_ with a row too many", lambda d, a: _point(
        d, a, READOUT + ("coef_",), np.ones((3, 22))), "intercept_"),
    ("coef_ with the wrong features", lambda d, a: _point(
        d, a, READOUT + ("coef_",), np.ones((2, 25))), "coef_"),
    ("an extra output", lambda d, a: (
        _point(d, a, READOUT + ("coef_",), np.ones((3, 22))),
        _point(d, a, READOUT + ("intercept_",), np.ones(3))), "readout_.coef_"),
    ("a longer intercept_", lambda d, a: _point(
        d, a, READOUT + ("intercept_",), np.ones(5)), "intercept_"),
    ("leak_rate 2", lambda d, a: _at(d["root"], RES).__setitem__("leak_rate", 2.0), "leak_rate"),
    ("leak_rate parameter 2", lambda d, a: d["root"]["params"].__setitem__("leak_rate", 2.0),
     "leak_rate"),
    ("W_in and bias swapped", lambda d, a: (
        lambda r: r.update(W_in=r["bias"], bias=r["W_in"]))(_at(d["root"], RES)), "W_in"),
    ("n_features_in_ of 3", lambda d, a: d["root"]["state"].__setitem__("n_features_in_", 3),
     "n_features"),
    ("W out of its CSR structure", lambda d, a: _point(
        d, a, RES + ("W", "parts", "indices"),
        np.full(_len_of(d, a, RES + ("W", "parts", "indices")), 25, np.int32)), "W"),
    ("activation 'os.system'", lambda d, a: _at(d["root"], RES).__setitem__(
        "activation", "os.system"), "activation"),
])
def test_named_forgeries_are_refused_naming_the_member(esn_file, tmp_path, what, change, member):
    from reservoir import load

    path = _forge(tmp_path, esn_file, change)
    with pytest.raises(ValueError, match=member):
        load(path)


def _len_of(doc, arrays, path):
    return arrays[_at(doc["root"], path)["member"]].shape[0]


def test_a_model_assembled_by_hand_cannot_reach_the_kernels(esn_file):
    """Weights changed in Python after loading are checked before the loops run them."""
    from reservoir import load

    est = load(esn_file)
    est.reservoir_.W_in = np.ones((5000, 2))
    est.reservoir_.bias = np.ones(5000)
    with pytest.raises(ValueError, match="W_in"):
        est.predict(np.zeros((10, 2)))


# ------------------------------------------------------------------------------ claimed sizes

_MEMORY_PROBE = r"""
import json, resource, sys, tracemalloc
from reservoir import load
good, forged = sys.argv[1], sys.argv[2]
load(good)                                  # imports and first-use caches out of the way
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
try:
    load(forged)
    outcome = "loaded"
except ValueError as exc:
    outcome = "ValueError: " + str(exc)[:200]
except MemoryError as exc:
    outcome = "MemoryError"
peak = tracemalloc.get_traced_memory()[1]
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "peak": peak, "rss_kib": rss1 - rss0}))
"""


def _zip64_claim(data, member, claimed):
    """``data`` with ``member`` claiming ``claimed`` bytes in zip64 size fields, resealed.

    The archive is rewritten with every member's sizes in zip64 extra fields
    (as an archive of large members has them), the member's .npy header
    claiming as many float64 values, and its central-directory sizes then
    set to ``claimed``.
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    header = io.BytesIO()
    n_values = (claimed - 128) // 8
    np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (n_values,)})
    head = header.getvalue()
    out = io.BytesIO()
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 0          # zip64 extra fields for every member
    try:
        with zipfile.ZipFile(out, "w") as dst:
            dst.comment = src.comment
            for info in src.infolist():
                content = head + b"\0" * 64 if info.filename == member else src.read(info)
                dst.writestr(info, content)
    finally:
        zipfile.ZIP64_LIMIT = limit
    raw = bytearray(out.getvalue())
    name = member.encode()
    cd = raw.find(b"PK\x01\x02")
    while cd != -1:
        name_len = int.from_bytes(raw[cd + 28:cd + 30], "little")
        extra_len = int.from_bytes(raw[cd + 30:cd + 32], "little")
        if raw[cd + 46:cd + 46 + name_len] == name:
            extra = cd + 46 + name_len
            end = extra + extra_len
            while extra < end:
                tag = int.from_bytes(raw[extra:extra + 2], "little")
                size = int.from_bytes(raw[extra + 2:extra + 4], "little")
                if tag == 1:   # zip64: uncompressed, then compressed size
                    raw[cd + 20:cd + 28] = b"\xff" * 8
                    raw[extra + 4:extra + 12] = (len(head) + 8 * n_values).to_bytes(8, "little")
                    raw[extra + 12:extra + 20] = (len(head) + 8 * n_values).to_bytes(8, "little")
                extra += 4 + size
        cd = raw.find(b"PK\x01\x02", cd + 4)
    return _reseal(bytes(raw))


def _pool_size_claim(data, size):
    src = zipfile.ZipFile(io.BytesIO(data))
    doc = json.loads(src.read("model.json"))
    for node in _walk(doc["root"]):
        if node.get("$") == "generator" and node.get("seed_seq"):
            for item in node["seed_seq"]["items"]:
                if item[0] == "pool_size":
                    item[1] = size
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.comment = src.comment
        for info in src.infolist():
            content = json.dumps(doc).encode() if info.filename == "model.json" else src.read(info)
            dst.writestr(info, content)
    return _reseal(out.getvalue())


@pytest.mark.parametrize("claim", ["pool_size 1e9", "pool_size 2**40", "zip64 member of 1 TiB",
                                   "zip64 member of 1 GiB"])
def test_claimed_sizes_do_not_allocate(esn_file, tmp_path, claim):
    """Loading a 10 kB file allocates a small multiple of its size, whatever it claims.

    Measured in a fresh process (after a first load of the original file, so
    that imports and caches are not counted): the peak of Python's and
    NumPy's allocations (tracemalloc) and the growth of the peak resident
    set (getrusage).
    """
    data = esn_file.read_bytes()
    forged = {
        "pool_size 1e9": lambda: _pool_size_claim(data, 10**9),
        "pool_size 2**40": lambda: _pool_size_claim(data, 2**40),
        "zip64 member of 1 TiB": lambda: _zip64_claim(data, "arrays/0.npy", 2**40),
        "zip64 member of 1 GiB": lambda: _zip64_claim(data, "arrays/0.npy", 2**30),
    }[claim]()
    path = tmp_path / "claim.rsv"
    path.write_bytes(forged)
    size = len(forged)
    assert size < 20_000
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(esn_file), str(path)],
                          capture_output=True, text=True, timeout=120, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{claim}: file {size} bytes, {result}")
    assert result["outcome"].startswith("ValueError"), result
    assert result["peak"] < 20 * size, result
    assert result["rss_kib"] * 1024 < 200 * size, result


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker()
