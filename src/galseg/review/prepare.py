"""``galseg review prepare``: pairs of masks of the same galaxies from two sources.

For each galaxy both sources have maps of (:func:`galseg.review.sources.match_galaxies`),
the masks of one feature at one vote threshold are made on the image's pixel grid
(:func:`galseg.review.sources.read_mask`), their outlines traced, and the image written
as the reviewers will see it: the colour image galseg makes of any input (the Legacy
Surveys asinh stretch for FITS band images, pictures as they are), one PNG shown under
both outlines, so both masks are judged on the same colours and stretch.

The galaxies are drawn at random (``n`` of them, ``seed``), and so is the side each
source is shown on: half the pairs show source A on the left, half on the right, in a
random order, so a reviewer's leaning to one side cannot favour a source. The sides are
stored in the review database and never sent to a browser.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
from skimage.measure import approximate_polygon, find_contours
from tqdm import tqdm

from galseg import __version__
from galseg.data._atomic import write_bytes_atomic
from galseg.data.encode import png_bytes
from galseg.data.images import find_images, read_image
from galseg.errors import InputFileError
from galseg.labels.rasterize import check_feature
from galseg.review.sources import Galaxy, find_map_files, match_galaxies, read_mask
from galseg.review.store import DATABASE_NAME, PairRecord, ReviewStore, create_review

IMAGES_FOLDER = "images"
"""Subfolder of the review holding one PNG per pair, named by the pair's random uid."""


@dataclass
class PreparedReview:
    """What :func:`prepare_review` made.

    Attributes
    ----------
    store : ReviewStore
    n_matched : int
        Galaxies both sources had maps of, with an image.
    n_identical : int
        Galaxies left out because both masks were the same (nothing to choose between).
    failures : list of (str, str)
        ``(file, reason)`` of galaxies that could not be used.
    unmatched : list of str
        Map files without a partner or an image.
    """

    store: ReviewStore
    n_matched: int
    n_identical: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return self.store.n_pairs()


def mask_outline(mask: np.ndarray) -> list[list[float]]:
    """Outlines of a boolean mask as flat ``[x0, y0, x1, y1, ...]`` closed paths.

    Traced at the half level between pixel centres (marching squares, outer edges and
    holes), in the pixel convention of docs/architecture.md: pixel ``(i, j)`` is centred
    on ``x = j, y = i``. Collinear points are dropped.
    """
    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    paths = []
    for contour in find_contours(padded, 0.5):
        contour = approximate_polygon(contour, tolerance=0.01) - 1.0
        paths.append([round(float(v), 3) for v in contour[:, ::-1].ravel()])
    return paths


def source_name(folder: str | PathLike[str]) -> str:
    """A source's default name: its folder's name."""
    return Path(folder).resolve().name or str(folder)


def _pair(galaxy: Galaxy, feature: str, threshold_votes: int, out_dir: Path,
          ) -> tuple[PairRecord, bool]:
    """One galaxy's pair (source A on the left for now) and whether its masks are equal."""
    image = read_image(galaxy.image)
    masks = [read_mask(source, feature, threshold_votes, shape=image.shape, wcs=image.wcs)
             for source in (galaxy.a, galaxy.b)]
    identical = bool(np.array_equal(masks[0], masks[1]))
    uid = secrets.token_hex(12)
    rgb = (np.clip(image.rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    write_bytes_atomic(out_dir / IMAGES_FOLDER / f"{uid}.png", png_bytes(rgb))
    height, width = image.shape
    record = PairRecord(
        uid=uid, name=galaxy.name, image_file=f"{IMAGES_FOLDER}/{uid}.png",
        a_file=str(galaxy.a.path.resolve()), b_file=str(galaxy.b.path.resolve()),
        left_source="a", width=width, height=height,
        a_pixels=int(masks[0].sum()), b_pixels=int(masks[1].sum()),
        a_outline=mask_outline(masks[0]), b_outline=mask_outline(masks[1]))
    return record, identical


def prepare_review(
    a_dir: str | PathLike[str],
    b_dir: str | PathLike[str],
    images: str | PathLike[str] | Sequence[str | PathLike[str]],
    out_dir: str | PathLike[str],
    *,
    feature: str = "spiral",
    threshold_votes: int = 3,
    n: int | None = None,
    seed: int = 0,
    names: tuple[str, str] | None = None,
    radius_arcsec: float = 1.0,
    keep_identical: bool = False,
    progress: bool = True,
    on_error: Callable[[str, str], None] | None = None,
) -> PreparedReview:
    """Make a review folder of mask pairs from two sources of vote-fraction maps.

    Parameters
    ----------
    a_dir, b_dir : str or path-like
        Folders of ``<name>_masks.fits`` (``galseg segment``) or ``<name>_votes.fits``
        (``galseg labels``) files: source A and source B.
    images : str or path-like, or a sequence of them
        The galaxies' images (folders, files or patterns, as for ``galseg segment``).
    out_dir : str or path-like
        The review folder; must not hold a review already.
    feature : {'spiral', 'bar'}, keyword-only
    threshold_votes : int, keyword-only
        Votes (out of the volunteers; 15 for a model) a pixel needs to be in a mask.
    n : int, optional, keyword-only
        Pairs to make, drawn at random from the galaxies; default all of them.
    seed : int, keyword-only
        Seeds the draw of galaxies and sides, and each reviewer's order.
    names : (str, str), optional, keyword-only
        The sources' names in the report; default the folders' names.
    radius_arcsec : float, keyword-only
        Match radius for files matched by sky position.
    keep_identical : bool, keyword-only
        Keep galaxies whose two masks are the same (left out by default: there is
        nothing to choose between them).
    on_error : callable, optional, keyword-only
        Called with ``(file, reason)`` for each galaxy that cannot be used.

    Raises
    ------
    galseg.errors.InputFileError
        A source folder without maps, or images that cannot be found.
    FileExistsError
        ``out_dir`` already holds a review.
    ValueError
        Bad options, or no pair could be made.
    """
    check_feature(feature)
    if isinstance(threshold_votes, bool) or int(threshold_votes) != threshold_votes \
            or threshold_votes < 1:
        raise ValueError(f"threshold_votes must be a whole number of votes >= 1, "
                         f"got {threshold_votes!r}")
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    out_dir = Path(out_dir)
    if (out_dir / DATABASE_NAME).exists():
        raise FileExistsError(f"{out_dir / DATABASE_NAME} exists; prepare a new review in "
                              "another folder")
    a_files, b_files = find_map_files(a_dir), find_map_files(b_dir)
    image_files = find_images(images if isinstance(images, list | tuple) else [images])
    galaxies, unmatched = match_galaxies(a_files, b_files, image_files,
                                         radius_arcsec=radius_arcsec)
    seen: dict[str, Galaxy] = {}
    for galaxy in galaxies:
        if galaxy.name in seen:
            raise InputFileError(galaxy.image, f"has the same name as {seen[galaxy.name].image}")
        seen[galaxy.name] = galaxy
    names = names or (source_name(a_dir), source_name(b_dir))
    if names[0] == names[1]:
        names = (f"{names[0]} (A)", f"{names[1]} (B)")

    rng = np.random.default_rng(seed)
    wanted = len(galaxies) if n is None else min(n, len(galaxies))
    # owner only: the folder will hold the database of token hashes and sides
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (out_dir / IMAGES_FOLDER).mkdir(exist_ok=True)
    records: list[PairRecord] = []
    failures: list[tuple[str, str]] = []
    n_identical = 0
    # all galaxies: count the galaxies looked at (some give no pair); n of them: the pairs
    per_galaxy = n is None
    bar = tqdm(total=wanted, desc="preparing pairs", unit="galaxy" if per_galaxy else "pair",
               disable=not progress)
    for index in rng.permutation(len(galaxies)):
        if len(records) == wanted:
            break
        galaxy = galaxies[index]
        if per_galaxy:
            bar.update()
        try:
            record, identical = _pair(galaxy, feature, threshold_votes, out_dir)
        except (InputFileError, OSError, ValueError) as error:
            reason = error.reason if isinstance(error, InputFileError) else str(error)
            path = str(error.path) if isinstance(error, InputFileError) else str(galaxy.image)
            failures.append((path, reason))
            if on_error is not None:
                on_error(path, reason)
            continue
        if identical and not keep_identical:
            (out_dir / record.image_file).unlink(missing_ok=True)
            n_identical += 1
            continue
        records.append(record)
        if not per_galaxy:
            bar.update()
    bar.close()
    if not records:
        raise ValueError(f"no pair could be made from {len(galaxies)} matched galaxies "
                         f"({n_identical} with identical masks, {len(failures)} failed)")
    # Balanced sides in a random order: A on the left in half the pairs.
    sides = rng.permutation(np.arange(len(records)) % 2)
    records = [PairRecord(**{**r.__dict__, "left_source": "ab"[int(side)]})
               for r, side in zip(records, sides, strict=True)]
    meta = {
        "feature": feature, "threshold_votes": str(int(threshold_votes)), "seed": str(seed),
        "source_a_name": names[0], "source_b_name": names[1],
        "source_a_dir": str(Path(a_dir).resolve()), "source_b_dir": str(Path(b_dir).resolve()),
        "images": ", ".join(str(Path(p).resolve()) for p in (
            images if isinstance(images, list | tuple) else [images])),
        "n_requested": "all" if n is None else str(n),
        "radius_arcsec": str(radius_arcsec), "galseg_version": __version__,
    }
    store = create_review(out_dir, meta, records)
    return PreparedReview(store, len(galaxies), n_identical, failures, unmatched)
