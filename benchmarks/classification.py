"""The sequence-classification task: speakers of the JapaneseVowels utterances.

Protocol (``docs/benchmarks.rst``): the UEA/UCR archive's split, 270 training
and 370 test utterances of 12 LPC cepstrum coefficients (7 to 29 frames), one
label (the speaker, 9 classes) per utterance. Every coefficient is normalised
with its mean and standard deviation over all frames of the training
utterances. Each model is fitted on the training utterances and scored by its
accuracy on the test utterances; the confusion matrix of the test set is
plotted. The data are fixed; a model's seeds are seed, seed + 1, ...

The reservoir models' hyperparameters come from ``configs/japanese_vowels.json``,
chosen by 5-fold stratified cross-validation on the training utterances only::

    python -m benchmarks.classification --write

which runs scikit-learn's ``GridSearchCV`` over the grids of :data:`GRIDS`.
The test set is never used to choose.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import warnings
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

CONFIG = Path(__file__).resolve().parent / "configs" / "japanese_vowels.json"

CLASSIFIERS = ("esn", "bidirectional", "deep", "ensemble", "elman", "lstm", "gru")

PROTOCOL = dict(quick=dict(n_seeds=1), full=dict(n_seeds=5))

# Gradient-trained classifiers: quick only checks that they run; full gives
# them early stopping on a tenth of the training utterances.
RNN_CLASSIFIER_SETTINGS = {
    "quick": dict(n_units=32, max_iter=20, batch_size=16),
    "full": dict(n_units=64, max_iter=300, batch_size=16, early_stopping=True,
                 n_iter_no_change=20, validation_fraction=0.1),
}

# The grids of the cross-validated selection (the ensemble uses the selected
# bidirectional member, ``n_estimators`` of them).
GRIDS = {
    "esn": dict(n_units=[100, 300], alpha=[1e-2, 1e-1, 1.0, 10.0], leak_rate=[1.0, 0.5],
                input_scaling=[0.1, 0.3, 1.0]),
    "bidirectional": dict(n_units=[100, 300], alpha=[1e-2, 1e-1, 1.0, 10.0],
                          leak_rate=[1.0, 0.5], input_scaling=[0.1, 0.3, 1.0]),
    "deep": dict(n_units=[100, 200], alpha=[1e-1, 1.0, 10.0], leak_rate=[1.0, 0.5, [1.0, 0.5]],
                 input_scaling=[0.1, 0.3], bidirectional=[False, True]),
}
ENSEMBLE_SIZE = 10


class DataUnavailable(RuntimeError):
    """The task's data could not be found or fetched."""


@cache
def _raw_data():
    from reservoir.datasets import japanese_vowels

    try:
        return japanese_vowels()
    except FileNotFoundError as exc:
        raise DataUnavailable(str(exc)) from exc


def unavailable_reason():
    """None when the JapaneseVowels files can be read, else why not (for the skip line)."""
    try:
        _raw_data()
    except DataUnavailable as exc:
        return f"JapaneseVowels data unavailable ({exc})"
    return None


def japanese_vowels_data():
    """Normalised training and test utterances and their labels."""
    X_train, y_train, X_test, y_test = _raw_data()
    frames = np.concatenate(X_train)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    return dict(X_train=[(x - mean) / std for x in X_train], y_train=y_train,
                X_test=[(x - mean) / std for x in X_test], y_test=y_test)


def load_config():
    if not CONFIG.exists():
        raise FileNotFoundError(f"no stored configuration {CONFIG}; run "
                                "python -m benchmarks.classification --write")
    return json.loads(CONFIG.read_text())


def _jsonable_params(params):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def make_classifier(name, *, mode, seed):
    """A fresh, unfitted classifier ``name`` with the stored configuration; ``(model, params)``."""
    from reservoir import DeepESNClassifier, ESNClassifier, ReservoirEnsembleClassifier
    from reservoir.rnn import ElmanClassifier, GRUClassifier, LSTMClassifier

    if name in ("elman", "lstm", "gru"):
        params = dict(RNN_CLASSIFIER_SETTINGS[mode], random_state=seed)
        cls = {"elman": ElmanClassifier, "lstm": LSTMClassifier, "gru": GRUClassifier}[name]
        return cls(**params), params
    config = load_config()["models"]
    if name == "ensemble":
        member = dict(config["bidirectional"]["params"])
        params = dict(member=member, n_estimators=config["ensemble"]["n_estimators"],
                      random_state=seed)
        model = ReservoirEnsembleClassifier(ESNClassifier(**member),
                                            n_estimators=params["n_estimators"], random_state=seed)
        return model, params
    params = dict(config[name]["params"], random_state=seed)
    cls = DeepESNClassifier if name == "deep" else ESNClassifier
    return cls(**params), params


def run_classification(task, model_name, mode, seed, *, backend, cache_dir=None, artifacts=None,
                       progress=None, overrides=None):
    """Test accuracy, training and prediction time, and the confusion matrix of one model."""
    from sklearn.metrics import confusion_matrix

    from .tasks import _row

    data = japanese_vowels_data()
    b = backend
    X_train, X_test = [b.put(x) for x in data["X_train"]], [b.put(x) for x in data["X_test"]]
    y_train, y_test = data["y_train"], data["y_test"]
    classes = np.unique(y_train)
    accuracies, fit_times, predict_times, errors = [], [], [], []
    total = np.zeros((classes.size, classes.size), dtype=int)
    params = {}
    for k in range(PROTOCOL[mode]["n_seeds"]):
        model, params = make_classifier(model_name, mode=mode, seed=seed + k)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        b.sync()
        fit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        y_pred = np.asarray(b.get(model.predict(X_test)))
        predict_times.append(time.perf_counter() - start)
        accuracies.append(float(np.mean(y_pred == y_test)))
        errors.append(int(np.sum(y_pred != y_test)))
        total += confusion_matrix(y_test, y_pred, labels=classes)
        if progress is not None:
            progress.update(1)
    if artifacts is not None:
        artifacts.setdefault("confusion", {}).setdefault(task, {})[model_name] = dict(
            matrix=total, labels=[str(c) for c in classes], n_seeds=len(accuracies),
            accuracy=float(np.mean(accuracies)))
    n_units = params.get("n_units") or params.get("member", {}).get("n_units")
    return [_row(task, model_name, "test accuracy", accuracies, fit_times=fit_times,
                 predict_times=predict_times, params=_jsonable_params(params), better="higher",
                 n_seeds=len(accuracies), n_errors=errors, n_test=len(y_test), n_units=n_units)]


# --------------------------------------------------------------------------
# Selection by cross-validation on the training utterances
# --------------------------------------------------------------------------

def select(models=("esn", "bidirectional", "deep"), *, n_splits=5, seed=0, progress=print):
    """``GridSearchCV`` of each reservoir classifier on the training utterances.

    Returns ``{model: {"params", "cv_accuracy", "top"}}``: the best grid point,
    its mean accuracy over the folds, and the five best points.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from reservoir import DeepESNClassifier, ESNClassifier

    data = japanese_vowels_data()
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    bases = {"esn": ESNClassifier(random_state=seed),
             "bidirectional": ESNClassifier(bidirectional=True, random_state=seed),
             "deep": DeepESNClassifier(n_layers=2, random_state=seed)}
    out = {}
    for name in models:
        start = time.perf_counter()
        search = GridSearchCV(bases[name], GRIDS[name], cv=cv).fit(data["X_train"], data["y_train"])
        order = np.argsort(-search.cv_results_["mean_test_score"])[:5]
        fixed = {k: v for k, v in bases[name].get_params().items()
                 if k in ("bidirectional", "n_layers")}
        params = _jsonable_params({**fixed, **search.best_params_})
        out[name] = dict(
            params=params, cv_accuracy=float(search.best_score_),
            command=f"python -m benchmarks.classification --write --models {name}",
            date=datetime.date.today().isoformat(),
            seconds=round(time.perf_counter() - start, 1),
            top=[dict(cv_accuracy=float(search.cv_results_["mean_test_score"][i]),
                      cv_std=float(search.cv_results_["std_test_score"][i]),
                      params=_jsonable_params(search.cv_results_["params"][i])) for i in order])
        progress(f"{name}: {out[name]['cv_accuracy']:.4f} {params} ({out[name]['seconds']} s)")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.classification",
        description="Choose the reservoir classifiers of the JapaneseVowels task by 5-fold "
                    "stratified cross-validation on the training utterances.")
    parser.add_argument("--write", action="store_true",
                        help="store the selection in benchmarks/configs/japanese_vowels.json")
    parser.add_argument("--models", default=",".join(GRIDS),
                        help="comma-separated models to select (default: all of "
                             f"{', '.join(GRIDS)}); the others keep their stored selection")
    args = parser.parse_args(argv)
    from .report import machine_description

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in GRIDS]
    if unknown:
        parser.error(f"--models takes names from {', '.join(GRIDS)}, got {unknown}")
    chosen = select(models)
    if set(models) != set(GRIDS):
        chosen = {**load_config()["models"], **chosen}
    doc = dict(
        task="japanese_vowels",
        models={**chosen, "ensemble": dict(
            n_estimators=ENSEMBLE_SIZE,
            note="ReservoirEnsembleClassifier of n_estimators copies of the selected "
                 "bidirectional classifier, each with its own seed")},
        selection=dict(
            command="python -m benchmarks.classification --write [--models esn,bidirectional,deep] "
                    "(each model's own command and date are in its entry)",
            method="scikit-learn GridSearchCV, StratifiedKFold(5, shuffle=True, random_state=0) "
                   "on the 270 normalised training utterances; reservoir seed 0; the test set "
                   "is not used",
            grids={k: {p: v for p, v in g.items()} for k, g in GRIDS.items()},
            date=datetime.date.today().isoformat(), machine=machine_description()))
    if args.write:
        CONFIG.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"written to {CONFIG}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
