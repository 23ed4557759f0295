import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from datasets import CHEST_XRAY, PNEUMONIAMNIST
from medmnist.info import INFO
from PIL import Image

from trainable.config import DEFAULT_PATIENT_PATTERN, UserError
from trainable.data import (
    RESIZE_BY_PIL,
    carve_validation,
    fetch_medmnist,
    file_md5,
    load_data,
    patient_ids,
    read_image,
)
from trainable.data import medmnist as medmnist_module

pytestmark = pytest.mark.integration  # real PneumoniaMNIST and Kermany files


def counts(y: np.ndarray) -> list[int]:
    return np.bincount(y).tolist()


def test_pneumoniamnist_npz_matches_the_data_readme(pneumoniamnist):
    d = pneumoniamnist
    assert d.classes == ["normal", "pneumonia"]
    assert d.train_x.shape == (4708, 1, 28, 28) and d.train_x.dtype == np.uint8
    assert counts(d.train_y) == [1214, 3494]
    assert counts(d.val_y) == [135, 389]
    assert counts(d.test_y) == [234, 390]
    assert "train normal 1214 (25.8%) / pneumonia 3494 (74.2%)" in d.describe()


def test_train_subsample_keeps_the_class_mix_and_leaves_val_and_test_whole(pneumoniamnist):
    d = load_data(str(PNEUMONIAMNIST), train_subsample=500)
    assert counts(d.train_y) == [129, 371]  # 25.8% / 74.2%, as the full split
    assert counts(d.val_y) == [135, 389] and counts(d.test_y) == [234, 390]
    # every kept image is one of the originals; the same seed keeps the same ones
    originals = {x.tobytes() for x in pneumoniamnist.train_x}
    assert {x.tobytes() for x in d.train_x} <= originals and len(d.train_x) == 500
    again = load_data(str(PNEUMONIAMNIST), train_subsample=500)
    assert np.array_equal(again.train_x, d.train_x)
    other = load_data(str(PNEUMONIAMNIST), train_subsample=500, seed=1)
    assert not np.array_equal(other.train_x, d.train_x)


def test_train_subsample_too_small_or_too_large_is_one_line(pneumoniamnist):
    for n in (2, 4708):
        with pytest.raises(UserError, match="--train-subsample must leave"):
            load_data(str(PNEUMONIAMNIST), train_subsample=n)


def test_train_subsample_one_below_the_training_size_keeps_all_but_one(pneumoniamnist):
    # too few left out to hold a class each: scikit-learn refused to stratify (ValueError)
    d = load_data(str(PNEUMONIAMNIST), train_subsample=4707)
    assert len(d.train_y) == 4707 and set(d.train_y) == {0, 1}


def test_npz_resized_on_load(pneumoniamnist):
    d = load_data(str(PNEUMONIAMNIST), size=64, channels=3)
    assert d.train_x.shape == (4708, 3, 64, 64)
    assert counts(d.test_y) == [234, 390]
    # resizing keeps the picture: the 64 px mean brightness matches the 28 px one
    assert abs(d.train_x.mean() - pneumoniamnist.train_x.mean()) < 1.0


def test_kermany_folder_carves_patient_grouped_stratified_validation():
    d = load_data(str(CHEST_XRAY), size=28)
    assert d.classes == ["NORMAL", "PNEUMONIA"]
    # every train/ image lands in train or val, test/ is untouched
    assert len(d.train_y) + len(d.val_y) == 1341 + 3875
    assert counts(d.train_y)[0] + counts(d.val_y)[0] == 1341
    assert counts(d.test_y) == [234, 390]
    # stratified: the class mix of validation is within a point of the whole
    share = counts(d.val_y)[0] / len(d.val_y)
    assert abs(share - 1341 / (1341 + 3875)) < 0.01
    assert 0.08 < len(d.val_y) / (1341 + 3875) < 0.12


def test_carve_never_puts_a_patient_on_both_sides():
    names = sorted(os.listdir(CHEST_XRAY / "train" / "PNEUMONIA"))
    names += sorted(os.listdir(CHEST_XRAY / "train" / "NORMAL"))
    labels = np.array([1] * 3875 + [0] * 1341)
    groups = patient_ids(names, DEFAULT_PATIENT_PATTERN)
    assert len(set(groups[labels == 1])) == 1635  # pneumonia patients, by file name
    train_idx, val_idx = carve_validation(labels, groups, 0.1, seed=0)
    assert set(groups[train_idx]).isdisjoint(groups[val_idx])
    assert len(np.intersect1d(train_idx, val_idx)) == 0
    # fixed seed, same split
    again = carve_validation(labels, groups, 0.1, seed=0)
    assert np.array_equal(again[1], val_idx)


@pytest.mark.parametrize("fraction", [0.1, 0.15, 0.3, 0.4])
def test_the_carve_holds_the_fraction_asked_for(fraction):
    """Validation is m of k patient-grouped folds, m / k nearest the fraction (one fold of
    round(1 / fraction) carved 0.5 for 0.4 and 0.33 for 0.3)."""
    names = sorted(os.listdir(CHEST_XRAY / "train" / "PNEUMONIA"))
    names += sorted(os.listdir(CHEST_XRAY / "train" / "NORMAL"))
    labels = np.array([1] * 3875 + [0] * 1341)
    groups = patient_ids(names, DEFAULT_PATIENT_PATTERN)
    train_idx, val_idx = carve_validation(labels, groups, fraction, seed=0)
    assert len(val_idx) / len(labels) == pytest.approx(fraction, abs=0.01)
    assert set(groups[train_idx]).isdisjoint(groups[val_idx])
    assert len(train_idx) + len(val_idx) == len(labels)


def test_patient_ids_follow_kermany_names():
    names = [
        "person123_bacteria_456.jpeg",
        "IM-0115-0001.jpeg",
        "NORMAL2-IM-1427-0001.jpeg",
        "x.png",
    ]
    assert patient_ids(names, DEFAULT_PATIENT_PATTERN).tolist() == [
        "person123",
        "IM-0115",
        "NORMAL2-IM-1427",
        "x.png",
    ]


def small_folder(root: Path, per_class: int = 30) -> Path:
    """A few real Kermany images in the same layout, for cache and error tests."""
    for split in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            src = sorted((CHEST_XRAY / split / cls).iterdir())[:per_class]
            (root / split / cls).mkdir(parents=True)
            for f in src:
                shutil.copy2(f, root / split / cls / f.name)
    return root


def test_decoded_folder_is_cached_and_invalidated_by_mtime(tmp_path):
    root = small_folder(tmp_path / "xray")
    cache = tmp_path / "cache"
    first = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    entries = sorted((cache / "decoded").iterdir())
    assert len(entries) == 2  # train and test
    second = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    assert np.array_equal(first.train_x, second.train_x)
    assert sorted((cache / "decoded").iterdir()) == entries  # read back, not decoded again
    touched = next((root / "train" / "NORMAL").iterdir())
    os.utime(touched, ns=(1, 1))
    load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    assert len(list((cache / "decoded").iterdir())) == 3  # changed file, new entry


def test_medmnist_name_downloads_verifies_and_caches(tmp_path, monkeypatch):
    source = tmp_path / "mirror.npz"
    shutil.copy(PNEUMONIAMNIST, source)
    md5 = file_md5(source)
    monkeypatch.setitem(INFO["pneumoniamnist"], "MD5", md5)
    cache = tmp_path / "cache"
    path = fetch_medmnist("pneumoniamnist", 28, cache, url=source.as_uri())
    assert path == cache / "pneumoniamnist.npz" and file_md5(path) == md5
    source.unlink()  # a second use must not download again
    monkeypatch.setitem(INFO["pneumoniamnist"], "url", "file:///nonexistent/pneumoniamnist.npz")
    d = load_data("pneumoniamnist", size=28, cache_dir=cache)
    assert counts(d.train_y) == [1214, 3494]


def test_medmnist_download_with_wrong_md5_leaves_nothing(tmp_path):
    # the shared file is a re-assembly whose md5 differs from the official one
    with pytest.raises(UserError, match="corrupt"):
        fetch_medmnist("pneumoniamnist", 28, tmp_path, url=PNEUMONIAMNIST.as_uri())
    assert list(tmp_path.iterdir()) == []


def test_medmnist_unreachable_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="put the file"):
        fetch_medmnist("pneumoniamnist", 64, tmp_path, url="file:///nonexistent/x.npz")


def test_synthetic_is_small_and_imbalanced():
    d = load_data("synthetic")
    share = np.bincount(d.train_y) / len(d.train_y)
    assert 0.15 < share[0] < 0.35


def write_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def valid_arrays(n: int = 40) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for split in ("train", "val", "test"):
        out[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        out[f"{split}_labels"] = (np.arange(n) % 2)[:, None]
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"val_labels": None}, "lacks key"),
        ({"train_labels": np.zeros((39, 1), np.int64)}, "rows but"),
        ({"train_labels": np.ones((40, 1), np.int64)}, "one class only"),
        ({"test_labels": np.full((40, 1), 5)}, "must lie in"),
        ({"val_labels": np.ones((40, 1), np.int64)}, "validation split lacks"),
        ({"test_labels": np.ones((40, 1), np.int64)}, r"test split lacks class\(es\) \['0'\]"),
        ({"train_images": np.zeros((40, 28), np.uint8)}, "has shape"),
        ({"val_images": np.random.default_rng(0).random((40, 28, 28))}, "scaled to \\[0, 1\\]"),
        ({"test_images": np.full((40, 28, 28), np.nan)}, "NaN or infinite"),
        ({"train_images": np.full((40, 28, 28), 300, np.int16)}, "outside 0..255"),
        ({"train_images": np.zeros((40, 28, 28), bool)}, "dtype bool"),
        ({"class_names": np.array(["a", "b", "c"])}, "must name each of the 2 classes"),
        ({"class_names": np.array([["a", "b"]])}, "must name each of the 2 classes"),
        ({"class_names": np.array(["x", "x"])}, "must name each of the 2 classes"),
        ({"class_names": np.array(["", "b"])}, "must name each of the 2 classes"),
        (
            dict.fromkeys(
                ["train_images", "val_images", "test_images"], np.zeros((40, 4, 4), np.uint8)
            ),
            "at least 8x8",
        ),
    ],
)
def test_bad_npz_is_refused_with_a_reason(tmp_path, change, message):
    arrays = valid_arrays()
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with pytest.raises(UserError, match=message):
        load_data(write_npz(tmp_path / "bad.npz", **arrays))


def test_corrupt_npz_and_missing_or_empty_folders(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="cannot read"):
        load_data(str(corrupt))
    with pytest.raises(UserError, match="not found"):
        load_data(str(tmp_path / "missing"))
    (tmp_path / "empty" / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(UserError, match="holds no images"):
        load_data(str(tmp_path / "empty"))


def test_unreadable_image_is_named(tmp_path):
    root = small_folder(tmp_path / "xray", per_class=10)
    bad = root / "train" / "NORMAL" / "broken.jpeg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="broken.jpeg"):
        load_data(str(root), size=28, cache_dir=tmp_path / "cache")


def test_float_images_holding_8_bit_values_are_rounded_not_truncated(tmp_path):
    arrays = valid_arrays()
    arrays["train_images"] = arrays["train_images"].astype(np.float32) - 0.2
    arrays["train_images"][arrays["train_images"] < 0] = 0
    d = load_data(write_npz(tmp_path / "float.npz", **arrays))
    assert d.train_x.dtype == np.uint8
    assert np.array_equal(d.train_x[:, 0], np.round(arrays["train_images"]).astype(np.uint8))


def test_npz_header_claiming_more_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = write_npz(tmp_path / "huge.npz", **valid_arrays())
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    header = io.BytesIO()
    fake = {"descr": "|u1", "fortran_order": False, "shape": (10**12, 28, 28)}
    np.lib.format.write_array_header_1_0(header, fake)
    pixels = members["train_images.npy"][-40 * 28 * 28 :]
    members["train_images.npy"] = header.getvalue() + pixels
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(UserError, match=r"claims shape \(1000000000000, 28, 28\)"):
        load_data(path)


@pytest.mark.parametrize(
    "pattern, expected",
    [
        (r"(xyz)?", ["person1_bacteria_2.jpeg", "IM-0115-0001.jpeg"]),  # matches nothing
        (r"(person\d+)|(IM-\d+)", ["person1", "IM-0115"]),  # the second side of the |
    ],
)
def test_patient_pattern_groups_that_match_nothing_fall_back_to_the_name(pattern, expected):
    names = ["person1_bacteria_2.jpeg", "IM-0115-0001.jpeg"]
    assert patient_ids(names, pattern).tolist() == expected


def test_invalid_patient_pattern_is_one_line():
    with pytest.raises(UserError, match="--patient-pattern is not a valid regular expression"):
        patient_ids(["a.jpeg"], "(unclosed")


def test_image_over_pils_decompression_limit_is_named(tmp_path, monkeypatch):
    root = small_folder(tmp_path / "xray", per_class=10)
    # PIL refuses an image over 2 x MAX_IMAGE_PIXELS before decoding it; lowered here so a
    # 224 x 224 image stands for a 200-megapixel one
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(UserError, match="cannot decode image .*decompression bomb"):
        load_data(str(root), size=28, cache_dir=tmp_path / "cache")


def test_broken_link_named_like_an_image_is_named(tmp_path):
    root = small_folder(tmp_path / "xray", per_class=10)
    (root / "train" / "NORMAL" / "gone.jpeg").symlink_to(tmp_path / "nowhere.jpeg")
    with pytest.raises(UserError, match="gone.jpeg is a broken link"):
        load_data(str(root), size=28, cache_dir=tmp_path / "cache")


def test_a_truncated_cache_entry_is_decoded_again(tmp_path):
    root = small_folder(tmp_path / "xray")
    cache = tmp_path / "cache"
    first = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    for entry in (cache / "decoded").iterdir():
        entry.write_bytes(entry.read_bytes()[:200])  # a copy cut short
    again = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    assert np.array_equal(first.train_x, again.train_x)
    assert np.array_equal(first.test_x, again.test_x)


def test_an_unwritable_cache_slows_the_next_load_but_stops_nothing(tmp_path, capsys):
    root = small_folder(tmp_path / "xray", per_class=10)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    d = load_data(str(root), size=28, cache_dir=not_a_folder / "cache", val_fraction=0.25)
    assert len(d.train_y) + len(d.val_y) == 20
    assert "warning: cannot cache decoded images" in capsys.readouterr().out
    with pytest.raises(UserError, match="set IMBALANCE_SEARCH_CACHE to a writable folder"):
        fetch_medmnist("pneumoniamnist", 28, not_a_folder / "cache", url="file:///x.npz")


def test_a_class_folder_that_train_lacks_is_named_not_dropped(tmp_path):
    root = small_folder(tmp_path / "xray", per_class=10)
    (root / "test" / "normal").mkdir()  # a case typo: its images would vanish from the test
    with pytest.raises(UserError, match=r"has class folder\(s\) \['normal'\] that train/ lacks"):
        load_data(str(root), size=28, cache_dir=tmp_path / "cache")


def test_any_2d_medmnist_set_by_name_reaches_its_own_url_and_md5(tmp_path, monkeypatch):
    """breastmnist at 64 px: the address and checksum are medmnist's, read from its table;
    a local mirror stands in for Zenodo, so the md5 check is what stops the copy."""
    assert INFO["breastmnist"]["url_64"].endswith("/breastmnist_64.npz?download=1")
    asked = []
    real_urlopen = medmnist_module.urllib.request.urlopen

    def mirror(url, timeout):  # what would have been fetched, served from the shared file
        asked.append(url)
        return real_urlopen(PNEUMONIAMNIST.as_uri(), timeout=timeout)

    monkeypatch.setattr(medmnist_module.urllib.request, "urlopen", mirror)
    with pytest.raises(UserError, match=f"expected {INFO['breastmnist']['MD5_64']}"):
        load_data("breastmnist", size=64, cache_dir=tmp_path)
    assert asked == [INFO["breastmnist"]["url_64"]]
    assert not list(tmp_path.rglob("*.npz"))  # a corrupt download is not kept


def test_a_multi_label_medmnist_set_is_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match="chestmnist is a multi-label, binary-class task"):
        load_data("chestmnist", cache_dir=tmp_path)


def test_medmnist_class_names_come_from_its_table(tmp_path):
    copy = tmp_path / "pneumoniamnist_28.npz"
    shutil.copy(PNEUMONIAMNIST, copy)
    assert load_data(str(copy)).classes == ["normal", "pneumonia"]


def test_images_a_site_keeps_are_all_read_as_they_look(tmp_path):
    """Subfolders inside a class folder, .gif and .webp, and 16-bit PNGs holding 12-bit
    X-rays: all read, the 16-bit ones as bright as their 8-bit originals."""
    root = small_folder(tmp_path / "site", per_class=20)
    cache = tmp_path / "cache"
    plain = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    total = len(plain.train_y) + len(plain.val_y)
    for i, f in enumerate(sorted((root / "train" / "PNEUMONIA").iterdir())):
        if i % 4 == 0:  # a quarter moved one folder down, by batch
            (f.parent / "batch1").mkdir(exist_ok=True)
            f.rename(f.parent / "batch1" / f.name)
        elif i % 4 == 1:  # a quarter re-saved as 16-bit PNGs of 12-bit values
            pixels = np.asarray(Image.open(f).convert("L"), dtype=np.uint16) * 16
            Image.fromarray(pixels).save(f.with_suffix(".png"))  # mode I;16
            f.unlink()
        elif i % 4 == 2:
            Image.open(f).convert("L").save(f.with_suffix(".webp"), lossless=True)
            f.unlink()
    d = load_data(str(root), size=32, cache_dir=cache, val_fraction=0.25)
    assert len(d.train_y) + len(d.val_y) == total  # nothing dropped
    assert counts(np.concatenate([d.train_y, d.val_y])) == [20, 20]
    # the same pixels within 8-bit rounding: 12 bits scaled back to 8, lossless webp
    both = np.concatenate([d.train_x, d.val_x]).astype(int).mean()
    before = np.concatenate([plain.train_x, plain.val_x]).astype(int).mean()
    assert abs(both - before) < 0.5


def test_a_class_folder_without_training_images_is_refused(tmp_path, capsys):
    root = small_folder(tmp_path / "xray", per_class=20)
    (root / "train" / "COVID").mkdir()
    with pytest.raises(UserError, match=r"class folder\(s\) \['COVID'\] hold no images"):
        load_data(str(root), size=32, cache_dir=tmp_path / "cache", val_fraction=0.25)


def test_file_and_class_names_that_are_not_utf8_are_read_and_shown_escaped(tmp_path):
    # Latin-1 names, common on hospital file shares: the decode cache's key raised on them
    root = small_folder(tmp_path / "xray", per_class=12)
    for split in ("train", "test"):
        folder = os.fsencode(root / split)
        os.rename(folder + b"/NORMAL", folder + b"/NORMAL_\xe9")  # NORMAL_é in Latin-1
        first = sorted(os.listdir(folder + b"/PNEUMONIA"))[0]
        os.rename(folder + b"/PNEUMONIA/" + first, folder + b"/PNEUMONIA/radiograf\xeda.jpeg")
    data = load_data(str(root), size=32, cache_dir=tmp_path / "cache", val_fraction=0.25)
    assert data.classes == ["NORMAL_\\xe9", "PNEUMONIA"]  # text UTF-8 can hold
    assert len(data.train_y) + len(data.val_y) == 24 and len(data.test_y) == 24
    print(data.describe())  # printable, whatever the terminal's error handler
    data.describe().encode("utf-8")


def test_a_class_folder_that_cannot_be_read_is_refused_not_skipped(tmp_path, monkeypatch):
    # rglob skipped it without a word: 40 of 120 images of a class gone, the class mix moved
    root = small_folder(tmp_path / "xray", per_class=12)
    batch = root / "train" / "NORMAL" / "batch2"
    batch.mkdir()
    for f in sorted((root / "train" / "NORMAL").glob("*.jpeg"))[:4]:
        f.rename(batch / f.name)
    listing = os.scandir

    def refused(path="."):  # what the system answers a user without read permission
        if Path(path) == batch:
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", refused)
    with pytest.raises(UserError, match=r"1 folder\(s\) or file\(s\) under .*NORMAL cannot be read "
                                        r"\(.*batch2: Permission denied\); their images would "
                                        r"be left out of class NORMAL"):  # fmt: skip
        load_data(str(root), size=32, cache_dir=tmp_path / "cache", val_fraction=0.25)


def test_float_images_in_0_to_1_read_bright_and_thumbnails_are_refused(tmp_path):
    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(ramp, mode="F").save(tmp_path / "float.tif")  # 32-bit float, 0..1
    x = read_image(tmp_path / "float.tif", 28, 1, RESIZE_BY_PIL)
    assert x.max() > 240 and x.min() < 10  # the whole range, not black (it read 0..1 of 255)
    Image.fromarray((ramp * 255).astype(np.uint8)).resize((5, 5)).save(tmp_path / "thumb.png")
    with pytest.raises(UserError, match="is 5x5 pixels, far below the 28x28"):
        read_image(tmp_path / "thumb.png", 28, 1, RESIZE_BY_PIL)
    Image.fromarray(np.full((64, 64), np.nan, dtype=np.float32), mode="F").save(tmp_path / "n.tif")
    with pytest.raises(UserError, match="NaN or infinite pixels"):
        read_image(tmp_path / "n.tif", 28, 1, RESIZE_BY_PIL)
