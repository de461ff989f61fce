"""Real sequence-classification data: the UEA/UCR archive's ``.ts`` files and JapaneseVowels.

The time series classification archive (Bagnall et al., UEA & UCR) stores
each problem as two text files, ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``:
``#`` comment lines, a header of ``@tag value`` lines, ``@data``, then one
line per series: the values of each dimension separated by ``,``, the
dimensions separated by ``:``, and, for a classification problem, the class
label after the last ``:``. Series may differ in length from one another.

:func:`japanese_vowels` finds the files of the JapaneseVowels problem in a
given folder, in this package's cache folder, in the copy that the aeon or
sktime wheels ship, or downloads the archive's zip once into the cache.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["JAPANESE_VOWELS_URL", "get_data_home", "japanese_vowels", "read_ts"]

#: Where the archive serves the problem's zip (the URL aeon downloads from).
JAPANESE_VOWELS_URL = "https://timeseriesclassification.com/aeon-toolkit/JapaneseVowels.zip"

_JV = "JapaneseVowels"
# What the problem is (Kudo, Toyama & Shimbo 1999): checked after reading,
# so that a truncated download or a different file is refused by name.
_JV_SHAPE = {"train": 270, "test": 370, "n_dimensions": 12, "n_classes": 9,
             "min_length": 7, "max_length": 29}

_BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength")


def _as_bool(tag, value, path, line_no):
    low = value.strip().lower()
    if low not in ("true", "false"):
        raise ValueError(f"{path}, line {line_no}: @{tag} must be true or false, got {value!r}")
    return low == "true"


def _parse_header(tag, rest, header, path, line_no):
    if tag in _BOOLEAN_TAGS:
        header[tag] = _as_bool(tag, rest, path, line_no)
    elif tag in ("dimensions", "serieslength"):
        try:
            header[tag] = int(rest)
        except ValueError:
            raise ValueError(f"{path}, line {line_no}: @{tag} must be an integer, "
                             f"got {rest!r}") from None
    elif tag == "classlabel":
        words = rest.split()
        if not words:
            raise ValueError(f"{path}, line {line_no}: @classLabel needs true or false")
        header["classlabel"] = _as_bool(tag, words[0], path, line_no)
        if header["classlabel"]:
            if len(words) < 2:
                raise ValueError(f"{path}, line {line_no}: @classLabel true must list the labels")
            header["labels"] = words[1:]
    elif tag == "targetlabel":
        header["targetlabel"] = _as_bool(tag, rest.split()[0] if rest.split() else "",
                                         path, line_no)
    else:
        # @problemName and any tag this reader does not act on.
        header[tag] = rest


def _parse_values(text, *, missing, path, line_no, dim):
    values = []
    for token in text.split(","):
        token = token.strip()
        if token == "?" or token.lower() == "nan":
            if not missing:
                raise ValueError(f"{path}, line {line_no}, dimension {dim}: a missing value "
                                 "('?') in a file whose header says @missing false")
            values.append(np.nan)
            continue
        try:
            values.append(float(token))
        except ValueError:
            raise ValueError(f"{path}, line {line_no}, dimension {dim}: {token!r} is not a "
                             "number") from None
    return values


def read_ts(path):
    """Read one ``.ts`` file of the UEA/UCR time series archive.

    The format (sktime and aeon read and write it): ``#`` starts a comment;
    header lines ``@problemName``, ``@timeStamps``, ``@missing``,
    ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
    ``@classLabel true <label> ...`` (or ``false``) and ``@targetLabel``
    precede ``@data`` (tags are case-insensitive); each data line is one
    series, its dimensions separated by ``:`` and the values of a dimension
    by ``,``, the class label (or regression target) after the last ``:``.
    ``?`` marks a missing value where the header allows them (it becomes
    NaN). Series may have different lengths, but the dimensions of one series
    must have the same length. Time-stamped files (``@timeStamps true``) are
    refused: their time points are not equally spaced steps.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    X : list of ndarray of shape (n_timesteps_i, n_dimensions)
        One float64 array per series, rows as time steps.
    y : ndarray of shape (n_series,) or None
        The labels as written in the file (strings) for a classification
        problem, float targets for a regression problem, None without either.
    header : dict
        The header tags, lower-cased (``labels`` holds the declared classes).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from reservoir.datasets import read_ts
    >>> text = ("# two series of two dimensions\\n@problemName toy\\n@univariate false\\n"
    ...         "@dimensions 2\\n@equalLength false\\n@classLabel true a b\\n@data\\n"
    ...         "1,2,3:4,5,6:a\\n7,8:9,10:b\\n")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.ts"
    >>> _ = path.write_text(text)
    >>> X, y, header = read_ts(path)
    >>> X[0].tolist(), X[1].shape, y.tolist(), header["labels"]
    ([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]], (2, 2), ['a', 'b'], ['a', 'b'])
    """
    path = Path(path)
    header = {}
    X, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{path}, line {line_no}: expected a header tag (@...) or "
                                     f"@data before the series, got {line[:40]!r}")
                tag, _, rest = line[1:].partition(" ")
                tag = tag.lower()
                if tag == "data":
                    in_data = True
                    if header.get("timestamps"):
                        raise ValueError(f"{path}: time-stamped series (@timeStamps true) are "
                                         "not supported; a reservoir needs equally spaced steps")
                    continue
                _parse_header(tag, rest.strip(), header, path, line_no)
                continue
            fields = line.split(":")
            labelled = header.get("classlabel", False) or header.get("targetlabel", False)
            if labelled:
                if len(fields) < 2:
                    raise ValueError(f"{path}, line {line_no}: expected dimensions then a label "
                                     "after the last ':'")
                label = fields[-1].strip()
                fields = fields[:-1]
                if header.get("classlabel"):
                    if "labels" in header and label not in header["labels"]:
                        raise ValueError(f"{path}, line {line_no}: class label {label!r} is not "
                                         f"among those the header declares {header['labels']}")
                    labels.append(label)
                else:
                    labels.append(float(label))
            missing = header.get("missing", False)
            dims = [_parse_values(f, missing=missing, path=path, line_no=line_no, dim=d)
                    for d, f in enumerate(fields)]
            expected = header.get("dimensions")
            if expected is not None and len(dims) != expected:
                raise ValueError(f"{path}, line {line_no}: {len(dims)} dimensions, but the header "
                                 f"says @dimensions {expected}")
            lengths = {len(d) for d in dims}
            if len(lengths) != 1:
                raise ValueError(f"{path}, line {line_no}: the dimensions of one series have "
                                 f"different lengths {sorted(lengths)}")
            X.append(np.array(dims, dtype=np.float64).T)
    if not in_data:
        raise ValueError(f"{path}: no @data line; is this a .ts file of the archive?")
    if not X:
        raise ValueError(f"{path}: no series after @data")
    if header.get("equallength") and len({x.shape[0] for x in X}) > 1:
        raise ValueError(f"{path}: the header says @equalLength true, but the series have "
                         f"lengths {sorted({x.shape[0] for x in X})}")
    if "serieslength" in header and any(x.shape[0] != header["serieslength"] for x in X):
        raise ValueError(f"{path}: a series' length differs from @seriesLength "
                         f"{header['serieslength']}")
    if not labels:
        y = None
    elif header.get("classlabel"):
        y = np.asarray(labels)
    else:
        y = np.asarray(labels, dtype=np.float64)
    return X, y, header


def get_data_home(data_home=None):
    """The folder where downloaded data sets are kept.

    ``data_home`` when given, else the environment variable
    ``RESERVOIR_DATA``, else ``~/reservoir_data``. It is created by the
    first download, not by looking.
    """
    if data_home is None:
        data_home = os.environ.get("RESERVOIR_DATA", str(Path("~") / "reservoir_data"))
    return Path(data_home).expanduser()


def _pair(folder, name=_JV):
    """The (train, test) .ts paths of problem ``name`` in ``folder``, or None."""
    folder = Path(folder)
    for where in (folder, folder / name):
        train, test = where / f"{name}_TRAIN.ts", where / f"{name}_TEST.ts"
        if train.is_file() and test.is_file():
            return train, test
    return None


def _shipped_copy(name=_JV):
    """The copy in an installed aeon or sktime wheel, found without importing either."""
    for package in ("aeon", "sktime"):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for root in (spec.submodule_search_locations or []) if spec else []:
            found = _pair(Path(root) / "datasets" / "data", name)
            if found:
                return found
    return None


def _download(url, folder, name=_JV, timeout=60):
    """Fetch the zip at ``url`` and extract the problem's two .ts files into ``folder``.

    The files are written under temporary names and renamed, so an
    interrupted download never leaves a partial file where the loader looks.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL or a test's file URL)
        payload = response.read()
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        members = {Path(m).name: m for m in archive.namelist()}
        wanted = [f"{name}_TRAIN.ts", f"{name}_TEST.ts"]
        absent = [w for w in wanted if w not in members]
        if absent:
            raise ValueError(f"the zip downloaded from {url} has no {absent}; it holds "
                             f"{sorted(members)[:10]}")
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        for w in wanted:
            with archive.open(members[w]) as src, tempfile.NamedTemporaryFile(
                    dir=target, delete=False, suffix=".part") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(dst.name, target / w)
    return _pair(folder, name)


def _check_japanese_vowels(X_train, y_train, X_test, y_test, where):
    got = {"train": len(X_train), "test": len(X_test),
           "n_dimensions": X_train[0].shape[1] if X_train else 0,
           "n_classes": len(set(y_train.tolist())) if y_train is not None else 0,
           "min_length": min(x.shape[0] for x in X_train + X_test),
           "max_length": max(x.shape[0] for x in X_train + X_test)}
    if got != _JV_SHAPE:
        raise ValueError(f"the JapaneseVowels files in {where} are not the archive's problem: "
                         f"expected {_JV_SHAPE}, found {got}")


def japanese_vowels(*, path=None, data_home=None, download=True, url=JAPANESE_VOWELS_URL):
    """The JapaneseVowels speaker-recognition problem of the UEA/UCR archive.

    Nine male speakers each uttered the Japanese vowels /ae/ in succession;
    each utterance is a series of 12 LPC cepstrum coefficients (one row per
    analysis frame) of 7 to 29 frames, labelled with its speaker "1" to "9".
    The archive splits 270 training utterances (30 per speaker) from 370
    test utterances (24 to 88 per speaker). Kudo, Toyama & Shimbo (1999),
    Pattern Recognition Letters 20(11-13), 1103-1111; the archive's copy:
    Bagnall et al., the UEA multivariate time series classification archive
    (2018).

    The files are looked for, in this order:

    1. in ``path``, when given (a folder holding ``JapaneseVowels_TRAIN.ts``
       and ``JapaneseVowels_TEST.ts``, directly or in a ``JapaneseVowels``
       sub-folder); nothing else is tried then;
    2. in the cache folder (:func:`get_data_home`: ``data_home``, else the
       ``RESERVOIR_DATA`` environment variable, else ``~/reservoir_data``);
    3. in the copy shipped with an installed ``aeon`` or ``sktime`` package
       (neither is imported);
    4. downloaded once from ``url`` (the archive's zip,
       :data:`JAPANESE_VOWELS_URL`) into the cache folder, when
       ``download`` is True.

    Parameters
    ----------
    path : str or path-like, optional
    data_home : str or path-like, optional
    download : bool, default=True
        Whether step 4 may use the network.
    url : str, default=JAPANESE_VOWELS_URL

    Returns
    -------
    X_train : list of 270 ndarrays of shape (n_timesteps_i, 12)
    y_train : ndarray of str of shape (270,)
    X_test : list of 370 ndarrays of shape (n_timesteps_i, 12)
    y_test : ndarray of str of shape (370,)

    Raises
    ------
    FileNotFoundError
        When the files are in none of the places above and cannot be
        downloaded (the message says where it looked and why the download
        failed).

    Examples
    --------
    >>> from reservoir.datasets import japanese_vowels
    >>> X_train, y_train, X_test, y_test = japanese_vowels()   # doctest: +SKIP
    >>> len(X_train), X_train[0].shape[1], sorted(set(y_train))[:3]   # doctest: +SKIP
    (270, 12, ['1', '2', '3'])
    """
    looked = []
    if path is not None:
        found = _pair(path)
        if found is None:
            raise FileNotFoundError(f"no {_JV}_TRAIN.ts and {_JV}_TEST.ts in {path} (nor in "
                                    f"{Path(path) / _JV})")
    else:
        home = get_data_home(data_home)
        found = _pair(home)
        looked.append(str(home))
        if found is None:
            found = _shipped_copy()
            looked.append("the aeon and sktime packages")
        if found is None:
            if not download:
                raise FileNotFoundError(
                    f"JapaneseVowels was not found in {' or '.join(looked)}, and download=False; "
                    f"pass path=, install aeon or sktime, or allow the download from {url}")
            try:
                found = _download(url, home)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise FileNotFoundError(
                    f"JapaneseVowels was not found in {' or '.join(looked)}, and downloading "
                    f"{url} failed: {exc}. Pass path= to a folder with the archive's .ts files, "
                    "or install aeon or sktime, which ship them.") from exc
    X_train, y_train, _ = read_ts(found[0])
    X_test, y_test, _ = read_ts(found[1])
    _check_japanese_vowels(X_train, y_train, X_test, y_test, found[0].parent)
    return X_train, y_train, X_test, y_test
