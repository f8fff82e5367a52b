"""A user's own images: a folder of PNG/JPEG files, or an .npy/.npz array of uint8.

- A folder holds the images directly (no labels), or one sub-folder per class as
  torchvision's ImageFolder lays them out (the sub-folder names, sorted, are the classes).
  Every image must have the first image's size; grey files stay one channel, and a folder
  with any colour image is read as RGB throughout. PNG/JPEG pixels have 256 levels.
- An array is (N, C, H, W) or (N, H, W) uint8; an .npz holds one array, or `images` (and
  optionally `labels`). Its levels are its largest value + 1, so a 0..16 array has the 17
  levels of scikit-learn's digits.

Shape and levels are read from the files (the config's resolvers call `image_spec`), so
they are never typed twice. A bad file fails with one line naming it.
"""

import functools
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.utils.errors import ConfigError, DataUnavailableError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_SUFFIXES = (".npy", ".npz")
MIN_IMAGES = 10  # fewer cannot give train, val and test an image each and train a spread


def _bad(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"data.path={str(path)!r} {reason}")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataUnavailableError(f"data.path={str(path)!r}: no such file or folder")
    if path.is_file() and path.suffix.lower() not in ARRAY_SUFFIXES:
        raise _bad(
            path,
            f"is a {path.suffix or 'suffix-less'} file; "
            f"valid: a folder of {'/'.join(IMAGE_SUFFIXES)} images, or {', '.join(ARRAY_SUFFIXES)}",
        )


def image_spec(path: str | Path) -> tuple[list[int], int]:
    """[C, H, W] and the number of levels, from the files."""
    images, _, _ = load_image_files(path)
    levels = 256 if Path(path).is_dir() else max(2, int(images.max()) + 1)
    return list(images.shape[1:]), levels


def load_image_files(path: str | Path) -> tuple[Tensor, Tensor, list[str]]:
    """uint8 images (N, C, H, W), int64 labels (zeros without classes) and the class names.
    Read once per process and file version: the config's resolvers and the DataModule share it."""
    path = Path(path)
    _check_exists(path)
    return _load(path.resolve(), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> tuple[Tensor, Tensor, list[str]]:
    if path.is_file():
        images, labels = _read_array(path)
        classes = [str(c) for c in range(int(labels.max()) + 1)] if labels is not None else []
        labels = labels if labels is not None else np.zeros(len(images), dtype=np.int64)
        return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels), classes
    files, labels = _folder_files(path)
    decoded = [_decode(f) for f in files]
    rgb = any(img.shape[0] >= 3 for img in decoded)
    images = [_to_channels(img, 3 if rgb else 1) for img in decoded]
    size = images[0].shape[1:]
    for f, img in zip(files, images):
        if img.shape[1:] != size:
            raise _bad(
                path,
                f"holds {f.name} of {img.shape[2]}x{img.shape[1]} pixels, "
                f"but {files[0].name} is {size[1]}x{size[0]}: resize them to one size",
            )
    classes = sorted({f.parent.name for f in files}) if labels else []
    index = {name: i for i, name in enumerate(classes)}
    label_ids = [index[f.parent.name] for f in files] if labels else [0] * len(files)
    return torch.stack(images), torch.tensor(label_ids, dtype=torch.int64), classes


def _folder_files(path: Path) -> tuple[list[Path], bool]:
    """The image files, sorted, and whether they sit in one sub-folder per class."""

    def images_in(folder: Path) -> list[Path]:
        return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)

    loose = images_in(path)
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir() and images_in(d))
    if loose and class_dirs:
        raise _bad(
            path, f"mixes images ({loose[0].name}) with class sub-folders ({class_dirs[0].name}/): use one layout"
        )
    files = loose or [f for d in class_dirs for f in images_in(d)]
    if len(files) < MIN_IMAGES:
        raise _bad(path, f"holds {len(files)} {'/'.join(IMAGE_SUFFIXES)} images, need at least {MIN_IMAGES}")
    return files, bool(class_dirs)


def _decode(file: Path) -> Tensor:
    from torchvision.io import ImageReadMode, decode_image

    try:
        return decode_image(str(file), mode=ImageReadMode.UNCHANGED)
    except (RuntimeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"data.path: {file} is not a readable image ({reason})") from None


def _to_channels(image: Tensor, channels: int) -> Tensor:
    """Drop an alpha channel; grey -> RGB by repetition when the folder holds colour."""
    image = image[:1] if image.shape[0] == 2 else image[:3]
    return image.expand(channels, -1, -1).contiguous() if image.shape[0] != channels else image


def _read_array(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)  # no pickles: loading must not run code
    except (ValueError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _bad(path, f"is not a readable {path.suffix} array ({reason})") from None
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        if len(keys) != 1 and "images" not in keys:
            raise _bad(path, f"holds arrays {keys}: name the images 'images' (and the labels 'labels')")
        images = loaded["images" if "images" in keys else keys[0]]
        labels = np.asarray(loaded["labels"], dtype=np.int64) if "labels" in keys else None
    else:
        images = loaded
    if images.dtype != np.uint8:
        raise _bad(
            path, f"has dtype {images.dtype}, expected uint8 pixel values 0..255 (scale float images by 255 and round)"
        )
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise _bad(path, f"has shape {images.shape}, expected (N, C, H, W) or (N, H, W)")
    if images.shape[1] > 4 and images.shape[-1] <= 4:
        raise _bad(path, f"has shape {images.shape}, which looks channels-last: transpose it to (N, C, H, W)")
    if len(images) < MIN_IMAGES:
        raise _bad(path, f"holds {len(images)} images, need at least {MIN_IMAGES}")
    if labels is not None and (labels.shape != (len(images),) or labels.min() < 0):
        raise _bad(
            path,
            f"has labels of shape {labels.shape} (min {labels.min()}), expected {len(images)} non-negative integers",
        )
    return images, labels
