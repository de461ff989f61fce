"""reservoir.save / reservoir.load: round trips of every public estimator, damaged and hostile files.

The round trip runs over every estimator class that ``reservoir`` and
``reservoir.rnn`` export, so an estimator added later is covered without
editing this file; its parameters come from the small, fast instances of
tests/test_common.py when it is listed there.
"""

import hashlib
import io
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import reservoir
import reservoir.rnn
from reservoir import ESNClassifier, ESNRegressor, RidgeReadout, load, save
from reservoir.persistence import FORMAT_VERSION

GOLDEN = Path(__file__).resolve().parent / "data" / "esn_format_v1.rsv"


def _public_estimator_classes():
    classes = {}
    for module in (reservoir, reservoir.rnn):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, BaseEstimator):
                classes[obj.__name__] = obj
    return [classes[name] for name in sorted(classes)]


def _small_instance(cls):
    """The instance of tests/test_common.py for ``cls`` if listed, else small defaults."""
    try:
        from test_common import ESTIMATORS
    except ImportError:   # pragma: no cover - run outside the test folder
        ESTIMATORS = []
    for est in ESTIMATORS:
        if type(est) is cls:
            return clone(est)
    params = cls().get_params(deep=False)
    small = {"n_units": 20, "max_iter": 5, "random_state": 0, "washout": 5}
    return cls(**{k: v for k, v in small.items() if k in params})


def _series(n=300, offset=0.0):
    t = np.arange(n) * 0.1 + offset
    return np.column_stack([np.sin(t), np.cos(0.7 * t)])


def _fit(est):
    """Fit on small data fitting the estimator's task; return the data to predict on."""
    if is_classifier(est):
        rng = np.random.default_rng(0)
        X = np.stack([_series(60, offset=k) * (1 + k % 2) for k in range(12)])
        X = X + 0.05 * rng.standard_normal(X.shape)
        y = np.array([k % 2 for k in range(12)])
        est.fit(X, y)
        return X
    s = _series()
    if not callable(getattr(est, "predict", None)):
        est.fit(s)
        return s[:100]
    est.fit(s[:-1], s[1:])
    return s[:100]


def _outputs(est, X):
    """Everything a fitted model computes from X: each method's output."""
    out = {}
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        if callable(getattr(est, method, None)):
            out[method] = getattr(est, method)(X)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    out[method + " continue"] = getattr(est, method)(X, initial_state="continue")
            except TypeError:   # no initial_state: not a sequence model
                pass
    if callable(getattr(est, "forecast", None)) and est.n_outputs_ == est.n_features_in_:
        out["forecast"] = est.forecast(5)
        out["forecast context"] = est.forecast(5, context=X[:50])
    return out


def _assert_same_outputs(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@pytest.fixture(scope="module")
def fitted():
    """Every public estimator class, fitted once: {name: (estimator, X, outputs)}."""
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in _public_estimator_classes():
            est = _small_instance(cls)
            X = _fit(est)
            models[cls.__name__] = (est, X, _outputs(est, X))
    return models


@pytest.fixture
def esn():
    s = _series()
    return ESNRegressor(n_units=30, washout=10, random_state=0).fit(s[:-1], s[1:])


# ------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("name", [cls.__name__ for cls in _public_estimator_classes()])
def test_round_trip_gives_identical_predictions(name, fitted, tmp_path):
    est, X, expected = fitted[name]
    assert expected, f"{name} computed nothing to compare"
    path = tmp_path / "model.rsv"
    save(est, path)
    loaded = load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    _assert_same_outputs(expected, _outputs(loaded, X))
    # The loaded model saves to the same bytes: nothing was lost or added.
    save(loaded, tmp_path / "again.rsv")
    assert (tmp_path / "again.rsv").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", [cls.__name__ for cls in _public_estimator_classes()])
def test_pickle_and_joblib_keep_working(name, fitted, tmp_path):
    est, X, expected = fitted[name]
    _assert_same_outputs(expected, _outputs(pickle.loads(pickle.dumps(est)), X))
    joblib.dump(est, tmp_path / "model.joblib")
    _assert_same_outputs(expected, _outputs(joblib.load(tmp_path / "model.joblib"), X))


def _readout_classes():
    import reservoir.readout

    # OnlineReadout is the base of the online readouts, not a model of its own.
    return [getattr(reservoir.readout, name) for name in reservoir.readout.__all__
            if isinstance(getattr(reservoir.readout, name), type)
            and issubclass(getattr(reservoir.readout, name), BaseEstimator)
            and name != "OnlineReadout"]


@pytest.mark.parametrize("cls", _readout_classes(), ids=lambda cls: cls.__name__)
def test_readouts_round_trip(cls, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 1.0
    readout = cls().fit(X, y)
    save(readout, tmp_path / "r.rsv")
    np.testing.assert_array_equal(load(tmp_path / "r.rsv").predict(X), readout.predict(X))


def test_unfitted_estimator_and_pipeline_round_trip(tmp_path):
    est = ESNRegressor(n_units=7, readout_features=("input", "state"), input_scaling=np.array([1.0, 0.5]))
    save(est, tmp_path / "unfitted.rsv")
    params = load(tmp_path / "unfitted.rsv").get_params()
    assert params["readout_features"] == ("input", "state")
    np.testing.assert_array_equal(params["input_scaling"], [1.0, 0.5])

    s = _series() * 10 + 3
    pipe = make_pipeline(StandardScaler(), ESNRegressor(n_units=20, random_state=0)).fit(s[:-1], s[1:, 0])
    save(pipe, tmp_path / "pipe.rsv")
    np.testing.assert_array_equal(load(tmp_path / "pipe.rsv").predict(s), pipe.predict(s))


def test_shared_objects_stay_shared_and_generators_keep_their_state(esn, tmp_path):
    esn.set_params(random_state=np.random.default_rng(7))
    save(esn, tmp_path / "m.rsv")
    loaded = load(tmp_path / "m.rsv")
    assert loaded.W_ is loaded.reservoir_.W
    assert scipy.sparse.issparse(loaded.W_) == scipy.sparse.issparse(esn.W_)
    assert loaded.random_state.bit_generator.state == esn.random_state.bit_generator.state
    assert loaded.random_state.random() == esn.random_state.random()
    # The noise generator spawned in fit spawns the same children.
    a = loaded._noise_rng.spawn(1)[0].random(3)
    b = esn._noise_rng.spawn(1)[0].random(3)
    np.testing.assert_array_equal(a, b)


def test_string_labels_round_trip(tmp_path):
    X = [_series(40, offset=k) * (1 + k % 2) for k in range(10)]
    y = np.array(["calm" if k % 2 else "wild" for k in range(10)], dtype=object)
    clf = ESNClassifier(n_units=20, random_state=0).fit(X, y)
    save(clf, tmp_path / "clf.rsv")
    loaded = load(tmp_path / "clf.rsv")
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert list(loaded.predict(X)) == list(clf.predict(X))


def test_model_fitted_on_another_namespace_loads_on_the_host(tmp_path):
    xp = pytest.importorskip("array_api_strict")
    s = _series()
    est = ESNRegressor(n_units=20, random_state=0).fit(xp.asarray(s[:-1]), xp.asarray(s[1:]))
    save(est, tmp_path / "m.rsv")
    loaded = load(tmp_path / "m.rsv")
    assert isinstance(loaded._final_state, np.ndarray)
    # NumPy may run the loop compiled (Numba), which rounds differently from
    # array-api-strict's loop: equal to rounding, as across backends.
    np.testing.assert_allclose(loaded.forecast(5), np.asarray(est.forecast(5)), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.gpu
def test_cupy_model_loads_on_the_host_or_a_device(cupy, tmp_path):
    s = _series()
    est = ESNRegressor(n_units=20, random_state=0).fit(cupy.asarray(s[:-1]), cupy.asarray(s[1:]))
    save(est, tmp_path / "m.rsv")
    host = load(tmp_path / "m.rsv")
    assert isinstance(host.readout_.coef_, np.ndarray)
    np.testing.assert_allclose(host.forecast(5), cupy.asnumpy(est.forecast(5)), rtol=1e-10)
    device = load(tmp_path / "m.rsv", device="cuda:0")
    assert isinstance(device.readout_.coef_, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(device.forecast(5)), cupy.asnumpy(est.forecast(5)))


def test_device_argument_is_checked(esn, tmp_path):
    save(esn, tmp_path / "m.rsv")
    with pytest.raises(ValueError, match="device must be"):
        load(tmp_path / "m.rsv", device="gpu")
    with pytest.raises(TypeError, match="device must be"):
        load(tmp_path / "m.rsv", device=1.5)


def test_golden_file_of_format_1_still_loads():
    """A file written once by format version 1 (see tests/data/README) gives today's predictions."""
    s = _series()
    fresh = ESNRegressor(n_units=12, washout=10, random_state=3).fit(s[:-1], s[1:])
    loaded = load(GOLDEN)
    assert loaded.get_params() == fresh.get_params()
    # A fresh fit may round differently from the one that wrote the file (the
    # statistics' arithmetic can change, as with the symmetric rank-k update),
    # and 20 closed-loop steps amplify that; the loaded model itself is exact.
    np.testing.assert_allclose(loaded.predict(s), fresh.predict(s), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loaded.forecast(20), fresh.forecast(20), rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------------------ what is stored

def _weights_nbytes(est):
    def nbytes(a):
        if scipy.sparse.issparse(a):
            return a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
        return np.asarray(a).nbytes
    return sum(nbytes(a) for a in (est.W_, est.W_in_, est.bias_, est.readout_.coef_,
                                   est.readout_.intercept_))


def test_file_of_a_1000_unit_regressor_is_about_its_weights(tmp_path):
    s = _series(400)
    est = ESNRegressor(n_units=1000, random_state=0).fit(s[:-1], s[1:])
    save(est, tmp_path / "m.rsv")
    size = os.path.getsize(tmp_path / "m.rsv")
    assert size <= 2 * _weights_nbytes(est)
    gram = est.readout_._accumulator.xx.nbytes
    assert gram > 20 * size      # what the file would carry with the statistics
    save(est, tmp_path / "stats.rsv", keep_statistics=True)
    assert os.path.getsize(tmp_path / "stats.rsv") > size + gram
    assert not hasattr(load(tmp_path / "m.rsv").readout_, "_accumulator")
    kept = load(tmp_path / "stats.rsv").readout_._accumulator
    np.testing.assert_array_equal(kept.xx, est.readout_._accumulator.xx)


def test_readout_statistics_are_kept_to_continue_training(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal(300) + 2.0
    readout = RidgeReadout(alpha=1e-3).fit(X[:150], y[:150])
    save(readout, tmp_path / "r.rsv", keep_statistics=True)
    continued = load(tmp_path / "r.rsv").partial_fit(X[150:], y[150:])
    # Reference: the closed-form ridge solution on all rows (intercept by centring).
    Xc, yc = X - X.mean(0), y - y.mean()
    coef = np.linalg.solve(Xc.T @ Xc + 1e-3 * np.eye(4), Xc.T @ yc)
    np.testing.assert_allclose(continued.coef_, coef, rtol=1e-10)
    np.testing.assert_allclose(continued.intercept_, y.mean() - X.mean(0) @ coef, rtol=1e-10)

    save(readout, tmp_path / "lean.rsv")        # by default: the weights only
    lean = load(tmp_path / "lean.rsv")
    assert not hasattr(lean, "_accumulator")
    np.testing.assert_array_equal(lean.predict(X), readout.predict(X))


def test_unsupported_attribute_is_named_at_save(esn, tmp_path):
    esn.schedule_ = lambda t: t     # a fitted attribute of a type the format does not store
    with pytest.raises(TypeError, match=r"ESNRegressor\.schedule_.*function"):
        save(esn, tmp_path / "m.rsv")
    assert not list(tmp_path.iterdir())     # nothing written
    with pytest.raises(TypeError, match="save writes estimators"):
        save(object(), tmp_path / "m.rsv")
    with pytest.raises(TypeError, match="keep_statistics"):
        save(RidgeReadout(), tmp_path / "m.rsv", keep_statistics="yes")


# ------------------------------------------------------------------------------ atomic writes

def test_interrupted_save_leaves_the_earlier_file_loadable(esn, tmp_path, monkeypatch):
    path = tmp_path / "m.rsv"
    save(esn, path)
    before = path.read_bytes()
    other = clone(esn).set_params(random_state=1).fit(_series()[:-1], _series()[1:])
    calls = []
    write_array = np.lib.format.write_array

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("interrupted while writing the third array")
        return write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(KeyboardInterrupt):
        save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.rsv"]    # no temporary file left
    np.testing.assert_array_equal(load(path).forecast(5), esn.forecast(5))


def test_save_replaces_and_keeps_permissions(esn, tmp_path):
    path = tmp_path / "m.rsv"
    path.write_bytes(b"old content")
    path.chmod(0o640)
    save(esn, path)
    assert (path.stat().st_mode & 0o777) == 0o640
    np.testing.assert_array_equal(load(path).forecast(3), esn.forecast(3))


# ------------------------------------------------------------------------------ rejected files

@pytest.fixture
def model_bytes(esn, tmp_path):
    save(esn, tmp_path / "good.rsv")
    return (tmp_path / "good.rsv").read_bytes()


def _write(tmp_path, data, name="bad.rsv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _reseal(data):
    """The archive with its checksum recomputed, as a forger with the format's spec would."""
    comment = zipfile.ZipFile(io.BytesIO(data)).comment
    body = data[:len(data) - len(comment)]
    head, _, _ = comment.rpartition(b"sha256=")
    return body + head + b"sha256=" + hashlib.sha256(body).hexdigest().encode()


def _rebuild(data, change_json=None, extra=None):
    """A sealed archive with model.json changed and members added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.comment = src.comment
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "model.json" and change_json is not None:
                doc = json.loads(content)
                change_json(doc)
                content = json.dumps(doc).encode()
            dst.writestr(info, content)
        for name, content in (extra or {}).items():
            dst.writestr(zipfile.ZipInfo(name), content)
    return _reseal(out.getvalue())


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_rejected(model_bytes, tmp_path, cut):
    path = _write(tmp_path, model_bytes[:int(len(model_bytes) * cut)])
    with pytest.raises(ValueError, match="damaged model file"):
        load(path)


def test_every_bit_flip_is_rejected(model_bytes, tmp_path):
    """A flipped bit anywhere (sampled every 97 bytes, and in the last 200) is caught."""
    positions = sorted(set(range(0, len(model_bytes), 97)) | set(range(len(model_bytes) - 200, len(model_bytes))))
    for pos in positions:
        data = bytearray(model_bytes)
        data[pos] ^= 0x10
        with pytest.raises(ValueError, match="damaged|not a model file|newer"):
            load(_write(tmp_path, bytes(data)))


def test_damaged_array_is_named_by_the_checksum(model_bytes, tmp_path):
    data = bytearray(model_bytes)
    data[len(data) // 2] ^= 0x01
    with pytest.raises(ValueError, match="SHA-256 checksum does not match"):
        load(_write(tmp_path, bytes(data)))


def test_empty_file_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        load(_write(tmp_path, b""))


def test_wrong_magic_is_rejected(model_bytes, tmp_path):
    with pytest.raises(ValueError, match="does not start with the zip signature"):
        load(_write(tmp_path, b"RSVR" + model_bytes[4:]))
    with pytest.raises(ValueError, match="not a model file"):
        load(_write(tmp_path, b"name,value\nalpha,1\n"))


def test_pickle_payload_is_rejected_without_being_run(esn, tmp_path):
    class Alarm:
        def __reduce__(self):
            return (os.remove, (str(sentinel),))

    sentinel = tmp_path / "sentinel"
    sentinel.write_text("still here")
    with pytest.raises(ValueError, match="is a pickle"):
        load(_write(tmp_path, pickle.dumps(Alarm())))
    joblib.dump(esn, tmp_path / "model.joblib")
    with pytest.raises(ValueError, match="is a pickle"):
        load(tmp_path / "model.joblib")
    assert sentinel.exists()


def test_pickled_array_inside_the_archive_is_rejected(model_bytes, tmp_path):
    """An object array (a pickle inside .npy) in place of a weight is not unpickled."""
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    src = zipfile.ZipFile(io.BytesIO(model_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.comment = src.comment
        for info in src.infolist():
            dst.writestr(info, buf.getvalue() if info.filename == "arrays/0.npy" else src.read(info))
    with pytest.raises(ValueError, match="allow_pickle"):
        load(_write(tmp_path, _reseal(out.getvalue())))


def test_forged_array_header_does_not_allocate(model_bytes, tmp_path):
    """A .npy header that claims a terabyte of data over a few bytes is refused, not allocated."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (10**11,)})
    forged = buf.getvalue() + b"\0" * 16
    src = zipfile.ZipFile(io.BytesIO(model_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.comment = src.comment
        for info in src.infolist():
            dst.writestr(info, forged if info.filename == "arrays/0.npy" else src.read(info))
    with pytest.raises(ValueError, match="declares"):
        load(_write(tmp_path, _reseal(out.getvalue())))


def test_future_version_is_rejected(model_bytes, tmp_path):
    data = model_bytes.replace(f"format_version={FORMAT_VERSION}".encode(),
                               f"format_version={FORMAT_VERSION + 1}".encode())
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}, newer"):
        load(_write(tmp_path, data))


def test_foreign_zip_is_rejected(tmp_path):
    np.savez(tmp_path / "arrays.npz", w=np.eye(3))
    with pytest.raises(ValueError, match="zip archive but not a model file"):
        load(tmp_path / "arrays.npz")


@pytest.mark.parametrize("module, name", [
    ("os", "system"), ("builtins", "eval"), ("subprocess", "Popen"),
    ("reservoir", "load"),             # in the package, but a function
    ("sklearn.utils", "Bunch"),        # in scikit-learn, but not an estimator
    ("reservoir.nonexistent", "ESNRegressor"),
])
def test_classes_outside_the_allowlist_are_never_created(model_bytes, tmp_path, module, name):
    def point_elsewhere(doc):
        doc["root"]["module"], doc["root"]["class"] = module, name
    with pytest.raises(ValueError, match=f"{module}.{name}"):
        load(_write(tmp_path, _rebuild(model_bytes, point_elsewhere)))


def test_unknown_parameter_and_stray_member_are_rejected(model_bytes, tmp_path):
    def add_param(doc):
        doc["root"]["params"]["n_neurons"] = 5
    with pytest.raises(ValueError, match=r"parameters \['n_neurons'\]"):
        load(_write(tmp_path, _rebuild(model_bytes, add_param)))
    with pytest.raises(ValueError, match="members are not those"):
        load(_write(tmp_path, _rebuild(model_bytes, extra={"payload.pkl": b"\x80\x04."})))


def test_out_of_range_sparse_indices_are_rejected(tmp_path):
    s = _series()
    est = ESNRegressor(n_units=200, density=0.05, random_state=0).fit(s[:-1], s[1:])
    assert scipy.sparse.issparse(est.W_)
    save(est, tmp_path / "m.rsv")
    data = (tmp_path / "m.rsv").read_bytes()
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("model.json"))
    member = next(n for n in _walk(doc["root"]) if n.get("$") == "sparse")["parts"]["indices"]["member"]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        dst.comment = src.comment
        for info in src.infolist():
            content = src.read(info)
            if info.filename == f"arrays/{member}.npy":
                indices = np.load(io.BytesIO(content))
                indices[0] = 10**6
                buf = io.BytesIO()
                np.save(buf, indices)
                content = buf.getvalue()
            dst.writestr(info, content)
    with pytest.raises(ValueError, match="invalid sparse matrix"):
        load(_write(tmp_path, _reseal(out.getvalue())))


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
