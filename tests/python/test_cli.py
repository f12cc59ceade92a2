"""The ``umapc`` command line and ``umapc.plot``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.manifold import trustworthiness

from umapc.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytest.importorskip("matplotlib")


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_default_data_set_writes_embedding_and_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--random-state", "0", "--n-epochs", "200"]) == 0
    embedding = np.load(tmp_path / "digits.umap.npy")
    digits = load_digits()
    assert embedding.shape == (digits.data.shape[0], 2)
    assert np.isfinite(embedding).all()
    # Same floor as a PCA of the data would not reach: a real UMAP layout.
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit_transform(digits.data)
    assert trustworthiness(digits.data, embedding, n_neighbors=15) > trustworthiness(
        digits.data, pca, n_neighbors=15
    )
    assert _is_png(tmp_path / "digits.umap.png")
    assert "wrote" in capsys.readouterr().out


def test_npy_input_csv_output_and_plot_with_labels(tmp_path):
    iris = load_iris()
    data, labels = tmp_path / "iris.npy", tmp_path / "labels.csv"
    np.save(data, iris.data)
    np.savetxt(labels, iris.target, fmt="%d")
    out, png = tmp_path / "emb.csv", tmp_path / "emb.png"
    argv = [str(data), "--labels", str(labels), "-o", str(out), "--plot", str(png)]
    argv += ["--n-neighbors", "10", "--min-dist", "0.2", "--n-epochs", "50", "--n-jobs", "1"]
    assert main(argv) == 0
    embedding = np.loadtxt(out, delimiter=",")
    assert embedding.shape == (150, 2)
    assert _is_png(png)


def test_csv_input_npy_output_is_reproducible(tmp_path):
    iris = load_iris()
    data = tmp_path / "iris.csv"
    np.savetxt(data, iris.data, delimiter=",")
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    common = ["--random-state", "3", "--n-epochs", "30", "--metric", "manhattan"]
    assert main([str(data), "-o", str(first), *common, "--n-jobs", "1"]) == 0
    assert main([str(data), "-o", str(second), *common, "--n-jobs", "2"]) == 0
    assert np.array_equal(np.load(first), np.load(second))
    assert not (tmp_path / "iris.umap.png").exists()  # only what was asked for


def test_fvecs_input(tmp_path):
    data = load_iris().data.astype(np.float32)
    records = np.hstack([np.full((len(data), 1), data.shape[1], np.int32).view(np.float32), data])
    path = tmp_path / "iris.fvecs"
    records.astype("<f4").tofile(path)
    out = tmp_path / "out.npy"
    assert main([str(path), "-o", str(out), "--n-epochs", "20"]) == 0
    assert np.load(out).shape == (150, 2)


@pytest.mark.parametrize(
    "make_argv, message",
    [
        (lambda p: [str(p / "missing.npy")], "no such file"),
        (lambda p: [str(p / "data.xyz")], "unknown file type"),
        (lambda p: [str(p / "bad.npy")], "cannot read"),
        (lambda p: [str(p / "ok.npy"), "-o", str(p / "out.txt")], ".npy or .csv"),
        (lambda p: [str(p / "ok.npy"), "--labels", str(p / "short.csv")], "labels"),
        (lambda p: [str(p / "ok.npy"), "-o", str(p / "no" / "dir.npy")], "does not exist"),
        (lambda p: [str(p / "ok.npy"), "--metric", "nonsense"], "metric"),
    ],
    ids=["missing", "format", "corrupt", "out-suffix", "labels", "out-dir", "metric"],
)
def test_bad_files_and_options_exit_2_with_a_message(tmp_path, capsys, make_argv, message):
    (tmp_path / "data.xyz").write_text("1 2 3\n")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    np.save(tmp_path / "ok.npy", np.random.RandomState(0).normal(size=(40, 3)))
    np.savetxt(tmp_path / "short.csv", np.arange(5), fmt="%d")
    assert main(make_argv(tmp_path) + ["--n-epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("umapc: error:") and message in err
    assert "Traceback" not in err


def test_bad_option_value_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--n-neighbors", "many"])
    assert info.value.code == 2


def test_module_entry_point_help():
    done = subprocess.run(
        [sys.executable, "-m", "umapc.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--n-neighbors" in done.stdout


def test_plot_embedding_into_axes_and_errors(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umapc.plot import plot_embedding

    points = np.random.RandomState(0).normal(size=(50, 2))
    points[3] = np.nan
    fig, ax = plt.subplots()
    returned = plot_embedding(points, labels=np.arange(50) % 3, ax=ax, title="t")
    assert returned is ax and ax.get_title() == "t"
    assert len(ax.collections[0].get_offsets()) == 49  # the NaN row is skipped
    plt.close(fig)
    path = tmp_path / "values.png"
    plot_embedding(points, labels=np.linspace(0, 1, 50), path=path)
    assert _is_png(path)
    with pytest.raises(ValueError):
        plot_embedding(np.zeros(5))
    with pytest.raises(ValueError):
        plot_embedding(points, labels=np.arange(3))
