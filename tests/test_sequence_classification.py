"""Sequence classification: bidirectional reservoirs, ensembles, the .ts reader, JapaneseVowels."""

import io
import zipfile

import numpy as np
import pytest

from reservoir import ESNClassifier, ReservoirEnsembleClassifier
from reservoir.classifier import _reverse_in_time
from reservoir.datasets import _archive, japanese_vowels, read_ts


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(0)
    lengths = rng.integers(8, 20, size=30)
    X = [rng.standard_normal((n, 2)) for n in lengths]
    y = np.array([int(x[:3, 0].sum() > 0) + 2 * int(x[-3:, 1].sum() > 0) for x in X])
    return X, y


def test_reverse_in_time_reverses_each_series_in_its_own_length():
    data = np.arange(2 * 4 * 1, dtype=float).reshape(2, 4, 1)
    out = _reverse_in_time(data, [3, 4])
    assert out[:, :, 0].tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]
    np.testing.assert_array_equal(_reverse_in_time(out, [3, 4]), data)


def test_bidirectional_pooled_features_by_hand(sequences):
    """Mean pooling: [mean u; mean forward x; mean x of the run over the reversed series]."""
    X, y = sequences
    clf = ESNClassifier(n_units=15, washout=2, bidirectional=True, random_state=0).fit(X, y)
    res = clf.reservoir_
    rows = []
    for x in X:
        forward = res.run(x)
        backward = res.run(x[::-1])
        rows.append(np.concatenate([x[2:].mean(0), forward[2:].mean(0), backward[2:].mean(0)]))
    F = np.array(rows)
    coef, intercept = clf.readout_.coef_, clf.readout_.intercept_
    np.testing.assert_allclose(clf.decision_function(X), F @ coef.T + intercept, rtol=1e-10,
                               atol=1e-12)
    # "last": the forward run's last step, the reversed run's state after reading back to step 0.
    last = ESNClassifier(n_units=15, pooling="last", bidirectional=True, random_state=0).fit(X, y)
    F = np.array([np.concatenate([x[-1], res.run(x)[-1], res.run(x[::-1])[-1]]) for x in X])
    np.testing.assert_allclose(last.decision_function(X), F @ last.readout_.coef_.T
                               + last.readout_.intercept_, rtol=1e-10, atol=1e-12)


def test_bidirectional_per_step_labels_see_the_future(sequences):
    """Non-causal by design: a change at the end moves the first steps' scores."""
    X, _ = sequences
    x = np.vstack(X[:3])
    labels = (np.cumsum(x[:, 0]) > 0).astype(int)
    for bidirectional, moves in ((False, False), (True, True)):
        clf = ESNClassifier(n_units=20, bidirectional=bidirectional, random_state=0).fit(x, labels)
        changed = x.copy()
        changed[-5:] += 3.0
        before = clf.decision_function(x)[:10]
        after = clf.decision_function(changed)[:10]
        assert (not np.array_equal(before, after)) == moves
    # Per-step states by hand: [u(t); x(t); x_rev(t)].
    res = clf.reservoir_
    F = np.hstack([x, res.run(x), res.run(x[::-1])[::-1]])
    np.testing.assert_allclose(clf.decision_function(x), F @ clf.readout_.coef_.ravel()
                               + clf.readout_.intercept_, rtol=1e-10, atol=1e-12)


def test_ensemble_averages_the_members_decisions(sequences):
    X, y = sequences
    ensemble = ReservoirEnsembleClassifier(ESNClassifier(n_units=10, washout=2), n_estimators=4,
                                           random_state=0).fit(X, y)
    seeds = {m.random_state for m in ensemble.estimators_}
    assert len(seeds) == 4
    mean = np.mean([m.decision_function(X) for m in ensemble.estimators_], axis=0)
    np.testing.assert_allclose(ensemble.decision_function(X), mean, rtol=1e-12)
    np.testing.assert_array_equal(ensemble.predict(X), ensemble.classes_[mean.argmax(axis=1)])
    # The same seed gives the same ensemble.
    again = ReservoirEnsembleClassifier(ESNClassifier(n_units=10, washout=2), n_estimators=4,
                                        random_state=0).fit(X, y)
    np.testing.assert_array_equal(again.decision_function(X), ensemble.decision_function(X))


# --------------------------------------------------------------------------- the .ts format

TOY = """# A comment
#  with two lines
@problemName toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down

@data
1,2,3:4,5,6:up
7.5,?:9,10:down
"""


def test_read_ts_parses_header_dimensions_lengths_missing_and_labels(tmp_path):
    path = tmp_path / "toy.ts"
    path.write_text(TOY)
    X, y, header = read_ts(path)
    assert [x.shape for x in X] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(X[0], [[1, 4], [2, 5], [3, 6]])
    assert X[1][0, 0] == 7.5 and np.isnan(X[1][1, 0])
    assert y.tolist() == ["up", "down"]
    assert header["problemname"] == "toy" and header["labels"] == ["up", "down"]
    assert header["missing"] is True and header["dimensions"] == 2


@pytest.mark.parametrize("text, match", [
    (TOY.replace("@missing true", "@missing false"), "missing value \\('\\?'\\)"),
    (TOY.replace(":down", ":left"), "class label 'left' is not among"),
    (TOY.replace("9,10:down", "9:down"), "different lengths \\[1, 2\\]"),
    (TOY.replace("@dimensions 2", "@dimensions 3"), "2 dimensions, but the header says"),
    (TOY.replace("@timeStamps false", "@timeStamps true"), "time-stamped series"),
    (TOY.replace("@data\n", ""), "expected a header tag"),
    (TOY.replace("1,2,3", "1,x,3"), "'x' is not a number"),
    (TOY.split("@data")[0], "no @data line"),
])
def test_read_ts_refuses_malformed_files_with_the_place(tmp_path, text, match):
    path = tmp_path / "bad.ts"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_ts(path)


def _fake_problem(folder, n_train=270, n_test=370, name="JapaneseVowels"):
    """Small .ts files with the problem's shape: 12 dimensions, lengths 7 to 29, 9 classes."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("TRAIN", n_train), ("TEST", n_test)):
        lines = ["@problemName JapaneseVowels", "@univariate false", "@dimensions 12",
                 "@equalLength false", "@classLabel true 1 2 3 4 5 6 7 8 9", "@data"]
        for i in range(n):
            length = 7 + (i % 23)
            dims = [",".join(f"{v:.3f}" for v in rng.standard_normal(length)) for _ in range(12)]
            lines.append(":".join(dims) + f":{1 + i % 9}")
        (folder / f"{name}_{part}.ts").write_text("\n".join(lines) + "\n")
    return folder


def test_japanese_vowels_reads_a_given_folder(tmp_path):
    _fake_problem(tmp_path / "jv" / "JapaneseVowels")
    X_train, y_train, X_test, y_test = japanese_vowels(path=tmp_path / "jv")
    assert (len(X_train), len(X_test)) == (270, 370)
    assert X_train[0].shape == (7, 12) and max(x.shape[0] for x in X_test) == 29
    assert sorted(set(y_train)) == [str(k) for k in range(1, 10)]
    with pytest.raises(FileNotFoundError, match="no JapaneseVowels_TRAIN.ts"):
        japanese_vowels(path=tmp_path / "nowhere")


def test_japanese_vowels_refuses_files_of_another_shape(tmp_path):
    _fake_problem(tmp_path, n_train=20)
    with pytest.raises(ValueError, match="are not the archive's problem"):
        japanese_vowels(path=tmp_path)


def test_japanese_vowels_looks_in_the_cache_then_aeon_then_downloads_once(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("RESERVOIR_DATA", str(home))
    # No copy anywhere and no download allowed: the message says where it looked.
    monkeypatch.setattr(_archive, "_shipped_copy", lambda name="JapaneseVowels": None)
    with pytest.raises(FileNotFoundError, match="download=False"):
        japanese_vowels(download=False)
    # A shipped copy (aeon's layout: <package>/datasets/data/JapaneseVowels/).
    package = tmp_path / "site" / "aeon"
    _fake_problem(package / "datasets" / "data" / "JapaneseVowels")
    monkeypatch.undo()
    monkeypatch.setenv("RESERVOIR_DATA", str(home))

    class Spec:
        submodule_search_locations = [str(package)]

    monkeypatch.setattr(_archive.importlib.util, "find_spec",
                        lambda name: Spec() if name == "aeon" else None)
    assert len(japanese_vowels(download=False)[0]) == 270
    # The archive's zip, served from a file URL, downloaded once into the cache.
    monkeypatch.setattr(_archive.importlib.util, "find_spec", lambda name: None)
    source = _fake_problem(tmp_path / "served")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in ("TRAIN", "TEST"):
            archive.write(source / f"JapaneseVowels_{part}.ts", f"JapaneseVowels_{part}.ts")
    (tmp_path / "JapaneseVowels.zip").write_bytes(buffer.getvalue())
    url = (tmp_path / "JapaneseVowels.zip").as_uri()
    assert len(japanese_vowels(url=url)[2]) == 370
    assert (home / "JapaneseVowels" / "JapaneseVowels_TEST.ts").is_file()
    # Found in the cache now, so a broken URL is never tried.
    assert len(japanese_vowels(url=(tmp_path / "missing.zip").as_uri())[0]) == 270
    # A failed download says what failed and what to do.
    with pytest.raises(FileNotFoundError, match="downloading .* failed"):
        japanese_vowels(data_home=tmp_path / "empty", url=(tmp_path / "missing.zip").as_uri())
