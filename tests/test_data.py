import gzip
from pathlib import Path

import jax
import numpy as np
import pytest

from zcjax import data

NDS_STEMS = (
    "Amoeba_in DARTS_fix-w-d_in DARTS_in DARTS_lr-wd_in ENAS_in NASNet_in PNAS_in ResNeXt-A_in "
    "ResNeXt-B_in ResNet_lr-wd_in ResNet_reruns Vanilla_lr-wd_in Vanilla_reruns"
).split()


def test_explicit_dir_beats_env_and_defaults(tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    arg_dir = tmp_path / "arg"
    arg_dir.mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(env_dir))
    assert data.find_data_dir(arg_dir) == arg_dir
    assert data.find_data_dir() == env_dir


def test_missing_explicit_dir_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(data.DataNotFoundError, match="ZCJAX_DATA.*not a folder"):
        data.find_data_dir()


def test_no_data_folder_anywhere_falls_back_to_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DIRS", (tmp_path / "a", tmp_path / "b"))
    assert data.find_data_dir() == data.embedded_dir()
    assert "embedded default" in data.describe_data_dir()
    assert len(data.load_nb201_table()) == 15625
    (tmp_path / "b").mkdir()  # any data folder wins over the embedded default
    assert data.find_data_dir() == tmp_path / "b"
    assert data.describe_data_dir() == f"data folder {tmp_path / 'b'}"
    monkeypatch.setattr(data, "embedded_dir", lambda: tmp_path / "lost")
    monkeypatch.setattr(data, "DEFAULT_DIRS", (tmp_path / "a",))
    assert data.find_data_dir() is None
    with pytest.raises(data.DataNotFoundError, match="No data folder found.*ZCJAX_DATA"):
        data.load_nb201_table()


def test_embedded_by_name_beats_default_folders(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    monkeypatch.setattr(data, "DEFAULT_DIRS", (tmp_path / "d",))
    monkeypatch.setenv(data.ENV_VAR, "embedded")
    assert data.is_embedded(data.find_data_dir())
    monkeypatch.delenv(data.ENV_VAR)
    assert data.is_embedded(data.find_data_dir("embedded"))
    assert data.find_data_dir() == tmp_path / "d"


def test_embedded_data_is_package_data_with_provenance():
    """Installed with the package (importlib.resources, inside zcjax/), under ~8 MB, and every
    file listed in PROVENANCE.md with its size; the images are what the docs say."""
    import hashlib
    import importlib.resources

    root = data.embedded_dir()
    assert root == Path(str(importlib.resources.files("zcjax"))) / "embedded"
    files = [p for p in root.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 8 * 2**20
    provenance = (root / "PROVENANCE.md").read_text()
    for p in files:
        rel = p.relative_to(root).as_posix()
        if p.suffix == ".gz" and rel.startswith("nds/"):
            assert p.name.removesuffix(".jsonl.gz") in NDS_STEMS, rel
            continue
        if p.name != "PROVENANCE.md":
            assert f"`{rel}`" in provenance, f"{rel} is not described in PROVENANCE.md"
            assert hashlib.sha256(p.read_bytes()).hexdigest() in provenance, rel
    images = data.load_images("cifar10", 64, "embedded")
    assert images.x.shape == (512, 32, 32, 3) and images.x.dtype == np.uint8
    assert sorted(np.unique(images.y)) == list(range(10))


def test_embedded_data_equals_the_full_sets_where_it_overlaps(data_dir):
    """The embedded table and images are the data folder's (its first 512 images). Without a
    data folder this compares the embedded default with itself; CI runs both ways."""
    full = data.load_nb201_table(data_dir)
    small = data.load_nb201_table("embedded")
    for col in ("arch", "cifar10_valid", "params_cifar10"):
        np.testing.assert_array_equal(full[col], small[col])
    a = data.load_images("cifar10", 1, data_dir)
    b = data.load_images("cifar10", 1, "embedded")
    np.testing.assert_array_equal(a.x[:512], b.x)
    np.testing.assert_array_equal(a.y[:512], b.y)


def test_missing_file_names_path_and_what_to_put(tmp_path):
    with pytest.raises(data.DataNotFoundError, match=r"nb201\.csv\.gz.*BUILD\.md") as e:
        data.load_nb201_table(tmp_path)
    assert str(tmp_path) in str(e.value)


def _write_table(path, rows):
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")


def test_read_csv_types_columns(tmp_path):
    path = tmp_path / "t.csv.gz"
    _write_table(path, ["index,arch,acc", "0,|a|,1.5", "1,|b|,"])
    table = data.read_csv(path)
    assert table["index"].dtype == np.int64
    np.testing.assert_array_equal(table["acc"], [1.5, np.nan])
    assert list(table["arch"]) == ["|a|", "|b|"]
    with pytest.raises(KeyError, match="No column 'nope'.*index, arch, acc"):
        table["nope"]


def test_table_with_bad_index_is_rejected(tmp_path):
    (tmp_path / "nb201").mkdir()
    _write_table(tmp_path / "nb201" / "nb201.csv.gz", ["index,arch", "1,x", "0,y"])
    with pytest.raises(ValueError, match="index column"):
        data.load_nb201_table(tmp_path)


def test_ragged_csv_is_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="row 3"):
        data.read_csv(path)


def _fake_images(tmp_path, n=40):
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "images" / "cifar10.npz", x=x, y=np.arange(n) % 10)
    np.savez(tmp_path / "images" / "cifar100.npz", x=x[:20], y=np.arange(20))
    return x


def test_sample_batch_is_deterministic_and_normalized(tmp_path):
    x = _fake_images(tmp_path)
    b1, y1, src = data.sample_batch(jax.random.key(1), "cifar10", 8, data_dir=tmp_path)
    b2, y2, _ = data.sample_batch(jax.random.key(1), "cifar10", 8, data_dir=tmp_path)
    b3, _, _ = data.sample_batch(jax.random.key(2), "cifar10", 8, data_dir=tmp_path)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(b1, b3)
    assert b1.shape == (8, 32, 32, 3) and b1.dtype == np.float32 and src == "cifar10 images"
    # Each image is one of the pool's, normalised with the CIFAR-10 constants.
    mean, std = data.NORMALIZATION["cifar10"]
    raw = np.asarray(b1) * np.array(std) + np.array(mean)
    pool = x.astype(np.float32) / 255
    assert all(np.abs(pool - r).max(axis=(1, 2, 3)).min() < 1e-5 for r in raw)


def test_imagenet16_is_box_resized_cifar(tmp_path):
    _fake_images(tmp_path)
    b32, _, _ = data.sample_batch(jax.random.key(1), "cifar10", 4, data_dir=tmp_path)
    b16, _, src = data.sample_batch(jax.random.key(1), "imagenet16", 4, data_dir=tmp_path)
    assert b16.shape == (4, 16, 16, 3) and "substituting imagenet16" in src
    m10, s10 = (np.array(v) for v in data.NORMALIZATION["cifar10"])
    m16, s16 = (np.array(v) for v in data.NORMALIZATION["imagenet16"])
    raw32 = np.asarray(b32) * s10 + m10
    expected = (raw32.reshape(4, 16, 2, 16, 2, 3).mean(axis=(2, 4)) - m16) / s16
    np.testing.assert_allclose(b16, expected, atol=1e-4)


def test_cifar100_falls_back_to_cifar10_for_large_batches(tmp_path):
    _fake_images(tmp_path)
    assert data.sample_batch(jax.random.key(0), "cifar100", 20, data_dir=tmp_path)[2] == (
        "cifar100 images"
    )
    src = data.sample_batch(jax.random.key(0), "cifar100", 21, data_dir=tmp_path)[2]
    assert src == "cifar10 images substituting cifar100"
    with pytest.raises(ValueError, match="exceeds"):
        data.sample_batch(jax.random.key(0), "cifar10", 41, data_dir=tmp_path)


def test_augmentation_shifts_or_flips(tmp_path):
    _fake_images(tmp_path)
    plain, _, _ = data.sample_batch(jax.random.key(3), "cifar10", 16, data_dir=tmp_path)
    aug, _, _ = data.sample_batch(jax.random.key(3), "cifar10", 16, augment=True, data_dir=tmp_path)
    assert aug.shape == plain.shape
    assert not np.allclose(aug, plain)


def test_noise_batch_shape():
    assert data.noise_batch(jax.random.key(0), "imagenet16", 3).shape == (3, 16, 16, 3)


def test_real_images_look_like_cifar(data_dir):
    x, _, _ = data.sample_batch(jax.random.key(0), "cifar10", 512, data_dir=data_dir)
    np.testing.assert_allclose(np.mean(x, axis=(0, 1, 2)), 0.0, atol=0.1)
    np.testing.assert_allclose(np.std(x, axis=(0, 1, 2)), 1.0, atol=0.1)
