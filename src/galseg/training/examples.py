"""Training examples for the segmenter: GZ3D files -> (image, vote-fraction target) arrays.

Every GZ3D file (real release file or one written by ``galseg simulate``) becomes one
example: the colour image the volunteers saw and the spiral and bar vote counts of its
volunteers, both brought to the model's square frame (``frame_size`` pixels; the whole
GZ3D field of view, as in the paper). Counts are stored as ``uint8`` with the number of
volunteers per task, so 6,000 examples at 128 px take under 0.5 GB.

The train / validation / test split is by galaxy and fixed: a galaxy's split depends
only on a hash of its name, not on the order of the files or on how many there are, so
adding galaxies never moves an old one from test to train.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from galseg.data.gz3d import read_gz3d
from galseg.data.splits import unit_hash
from galseg.labels.rasterize import vote_maps
from galseg.models.geometry import resize

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
CACHE_VERSION = 1


def split_of(name: str, fractions: Sequence[float] = SPLIT_FRACTIONS) -> str:
    """The fixed split (``'train'``, ``'val'`` or ``'test'``) of the galaxy called ``name``."""
    u = unit_hash(name)
    edges = np.cumsum(fractions)
    return SPLITS[int(np.searchsorted(edges, u, side="right"))] if u < edges[-1] else SPLITS[-1]


@dataclass(frozen=True)
class SegmentationExamples:
    """Images and vote counts of many galaxies on one square frame.

    Attributes
    ----------
    names : ndarray of str, shape (N,)
    images : ndarray, shape (N, S, S, 3), uint8
        Colour images resized to the frame.
    counts : ndarray, shape (N, 2, S, S), uint8
        Spiral (0) and bar (1) votes per pixel (area-averaged and rounded if resized).
    n_voters : ndarray, shape (N, 2), int
        Volunteers who answered the spiral and the bar task.
    pixscale_arcsec : ndarray, shape (N,)
        Pixel scale of the frame (the GZ3D pixel scale times the resize factor).
    """

    names: np.ndarray
    images: np.ndarray
    counts: np.ndarray
    n_voters: np.ndarray
    pixscale_arcsec: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @property
    def frame_size(self) -> int:
        return int(self.images.shape[1])

    def vote_fractions(self, index: np.ndarray | slice | int) -> np.ndarray:
        """Vote fractions (n, 2, S, S) float32 of the examples ``index``."""
        counts = self.counts[index].astype(np.float32)
        voters = np.maximum(self.n_voters[index], 1).astype(np.float32)
        return counts / voters[..., None, None]

    def subset(self, split: str) -> SegmentationExamples:
        """The examples of one split (see :func:`split_of`)."""
        keep = np.array([split_of(str(n)) == split for n in self.names], dtype=bool)
        return SegmentationExamples(self.names[keep], self.images[keep], self.counts[keep],
                                    self.n_voters[keep], self.pixscale_arcsec[keep])


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    """(C, H, W) float -> (C, size, size) float32 (:func:`galseg.models.geometry.resize`)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    return resize(tensor, (size, size)).numpy()[0]


def frame_image(rgb: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) colour image on the 0-255 scale brought to the (size, size, 3) uint8
    training frame (area averaging when shrinking, rounded): how every training image,
    simulated or real, is stored."""
    resized = _resize(np.moveaxis(np.asarray(rgb, dtype=np.float32), -1, 0), size)
    return np.clip(np.moveaxis(resized, 0, -1) + 0.5, 0, 255).astype(np.uint8)


def image_batch(images: np.ndarray) -> torch.Tensor:
    """(n, S, S, 3) uint8 frames -> the models' (n, 3, S, S) float input in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def _example(args: tuple[str, int]) -> tuple[str, np.ndarray, np.ndarray, tuple[int, int], float]:
    path, size = args
    subject = read_gz3d(path)
    maps = vote_maps(subject)
    image = subject.image
    height, width = image.shape[:2]
    if height != width:
        raise ValueError(f"{path}: GZ3D images are square; got {height}x{width}")
    counts = _resize(np.stack([maps.spiral_count, maps.bar_count]).astype(np.float32), size)
    return (subject.name,
            frame_image(image, size),
            np.clip(counts + 0.5, 0, 255).astype(np.uint8),
            (maps.n_spiral_volunteers, maps.n_bar_volunteers),
            subject.pixscale_arcsec * height / size)


def gz3d_files(data_dir: str | PathLike[str]) -> list[Path]:
    """GZ3D files of a data folder: ``DIR/gz3d/*.fits[.gz]`` if there is one, else ``DIR/*``."""
    data_dir = Path(data_dir)
    folder = data_dir / "gz3d" if (data_dir / "gz3d").is_dir() else data_dir
    files = sorted(p for p in folder.iterdir()
                   if p.name.endswith((".fits", ".fits.gz")) and p.is_file())
    if not files:
        raise FileNotFoundError(f"no GZ3D files (*.fits, *.fits.gz) in {folder}")
    return files


def load_examples(
    data_dir: str | PathLike[str],
    *,
    frame_size: int = 128,
    cache: str | PathLike[str] | None = None,
    workers: int = 1,
    progress: bool = True,
) -> SegmentationExamples:
    """Read every GZ3D file of ``data_dir`` into :class:`SegmentationExamples`.

    Parameters
    ----------
    data_dir : path
        A folder of GZ3D files, or a simulated data set (its ``gz3d/`` folder is used).
    frame_size : int
        Side of the square frame the examples are resized to.
    cache : path, optional
        ``.npz`` file to reuse: read if it was made from the same file list and frame
        size, else (re)written.
    workers : int
        Processes reading files in parallel.
    """
    files = gz3d_files(data_dir)
    key = json.dumps({"version": CACHE_VERSION, "size": frame_size,
                      "files": [f.name for f in files]})
    stored = read_cache(cache, key)
    if stored is not None:
        return SegmentationExamples(stored["names"], stored["images"], stored["counts"],
                                    stored["n_voters"], stored["pixscale_arcsec"])
    jobs = [(str(f), frame_size) for f in files]
    bar = tqdm(total=len(jobs), desc="reading GZ3D files", unit="file", disable=not progress)
    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            results = []
            for item in pool.imap(_example, jobs, chunksize=16):
                results.append(item)
                bar.update()
    else:
        results = []
        for job in jobs:
            results.append(_example(job))
            bar.update()
    bar.close()
    examples = SegmentationExamples(
        names=np.array([r[0] for r in results]),
        images=np.stack([r[1] for r in results]),
        counts=np.stack([r[2] for r in results]),
        n_voters=np.array([r[3] for r in results], dtype=np.int16),
        pixscale_arcsec=np.array([r[4] for r in results], dtype=np.float64),
    )
    if cache is not None:
        write_cache(cache, key, names=examples.names, images=examples.images,
                    counts=examples.counts, n_voters=examples.n_voters,
                    pixscale_arcsec=examples.pixscale_arcsec)
    return examples


def read_cache(cache: str | PathLike[str] | None, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of an example cache written by :func:`write_cache` with the same ``key``
    (what it was made from), else None."""
    if cache is None or not Path(cache).is_file():
        return None
    with np.load(cache, allow_pickle=False) as stored:
        if str(stored["key"]) != key:
            return None
        return {name: stored[name] for name in stored.files if name != "key"}


def write_cache(cache: str | PathLike[str], key: str, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` example cache atomically (a killed run leaves no half file)."""
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(cache).with_suffix(".tmp.npz")
    np.savez(tmp, key=np.array(key), **arrays)
    tmp.replace(cache)
