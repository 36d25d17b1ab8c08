"""Spiral-arm and bar vote-fraction maps for images of any size (the Python API of
``galseg segment``).

Scale rule
----------
The model was trained on square frames of ``frame_size`` pixels (128) that hold the
whole cutout around one galaxy, as the paper's model was trained on whole GZ3D fields.
An input is brought to that scale by one of three rules (``scale=``):

``'frame'`` (default)
    The input is padded to a square (with its own border's median colour, so the pad
    looks like sky) and resized to the training frame. Right for cutouts centred on a
    galaxy at any pixel scale, including a 1,000 px image of a nearby galaxy that fills
    the frame.
``'pixscale'``
    The input is resized so that its pixel scale equals the training pixel scale
    (0.262 arcsec/px) and run whole (the network is fully convolutional). Right for
    fields in which galaxies have the angular sizes of the training set; needs a pixel
    scale (FITS WCS or ``pixscale_arcsec``).
``'native'``
    No resizing.

Whatever the rule, the maps are resized back and returned on the input's own pixel
grid, so measurements are made in input pixels and need no further correction.
Down-sampling uses area averaging (anti-aliasing), up-sampling bilinear interpolation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from typing import Any, Literal

import numpy as np
import torch
from astropy.io import fits

from galseg.data._fitsbytes import card_image, header_card_images, image_hdu_bytes, table_hdu_bytes
from galseg.data.images import InputImage, read_image
from galseg.data.maps import (
    N_VOLUNTEERS,
    fraction_extname,
    mask_extname,
    measured_mask_extname,
    predicted_vote_mask,
)
from galseg.measure import ArmMeasurement, BarMeasurement, check_rules, measure_features
from galseg.measure.spirals import SpiralMeasurement, image_parity
from galseg.models.geometry import (
    DIHEDRAL_VIEWS,
    dihedral,
    inverse_dihedral,
    pad_to_square,
    resize,
)
from galseg.models.unet import UNet
from galseg.models.weights import SegmenterMetadata, load_segmenter

ScaleRule = Literal["frame", "pixscale", "native"]
SCALE_RULES = ("frame", "pixscale", "native")
DEFAULT_VIEWS = 1
"""Test-time views averaged by default: none, the network alone. Two views (the image
and its left-right flip) make the arm masks better on unseen simulations but run at
0.55-0.62 of the end-to-end speed on a 2-core CPU, which the speed target does not
allow for the default (docs/models.md, "Test-time views")."""


@dataclass(frozen=True)
class SegmentationResult:
    """Vote-fraction maps of one input on its own pixel grid, and measurements from them.

    Attributes
    ----------
    image : InputImage
        The input (name, WCS, header, pixel scale, valid-pixel mask).
    spiral_vote_fraction, bar_vote_fraction : ndarray, shape (H, W), float32
        Predicted fraction of volunteers marking each pixel, in [0, 1].
    redshift : float or None
        Used for the kpc columns.
    measure_rules : mapping
        Keyword arguments of :func:`galseg.measure.measure_features` for :attr:`arms`
        and :attr:`bar` (a :class:`Segmenter` passes its model's rules); empty: the
        defaults of :mod:`galseg.measure`.
    """

    image: InputImage
    spiral_vote_fraction: np.ndarray
    bar_vote_fraction: np.ndarray
    redshift: float | None = None
    measure_rules: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.image.name

    @cached_property
    def _features(self) -> tuple[ArmMeasurement, BarMeasurement]:
        return measure_features(self.spiral_vote_fraction, self.bar_vote_fraction,
                                pixscale_arcsec=self.image.pixscale_arcsec,
                                redshift=self.redshift, wcs=self.image.wcs,
                                **self.measure_rules)

    @property
    def arms(self) -> ArmMeasurement:
        """The spiral arms measured on the spiral map with :attr:`measure_rules`."""
        return self._features[0]

    @property
    def bar(self) -> BarMeasurement:
        """The bar measured on the bar map with :attr:`measure_rules`."""
        return self._features[1]

    @cached_property
    def spirals(self) -> SpiralMeasurement:
        """Arm count, pitch angle and winding from the spiral map and the image's light
        (:mod:`galseg.measure.spirals`); winding through the image's orientation."""
        return SpiralMeasurement(self.spiral_vote_fraction, self.image.rgb,
                                 parity=image_parity(self.image), wcs=self.image.wcs,
                                 arms=self.arms)

    @cached_property
    def measurements(self) -> dict[str, Any]:
        """One catalog row: the columns of :func:`galseg.measure.measure_maps` and of
        :meth:`galseg.measure.spirals.SpiralMeasurement.to_row`."""
        return {**self.arms.to_row(), **self.bar.to_row(), **self.spirals.to_row()}

    def vote_fraction(self, feature: str) -> np.ndarray:
        if feature not in ("spiral", "bar"):
            raise ValueError(f"feature must be 'spiral' or 'bar', got {feature!r}")
        return self.spiral_vote_fraction if feature == "spiral" else self.bar_vote_fraction

    def mask(self, feature: str, threshold_votes: int,
             n_volunteers: int = N_VOLUNTEERS) -> np.ndarray:
        """Pixels where the predicted votes reach ``threshold_votes`` of ``n_volunteers``
        (Rey Deutsch et al. 2023 thresholds th = 1..6 of 15)."""
        return predicted_vote_mask(self.vote_fraction(feature), threshold_votes, n_volunteers)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0), dtype=np.float32))


class Segmenter:
    """A trained spiral/bar U-Net ready to run on images.

    Parameters
    ----------
    model_path : path, optional
        Model file; default: the weights shipped with galseg.
    scale : {'frame', 'pixscale', 'native'}
        How inputs are brought to the training scale (module docstring).
    views : {1, 2, 4, 8}, optional
        Average the maps over this many flips and right-angle rotations of the input
        (:data:`~galseg.models.geometry.DIHEDRAL_VIEWS`): 1 is the network alone,
        2 adds the left-right flip, 8 is every flip and rotation. The network's cost
        grows with the number. Default (None): :data:`DEFAULT_VIEWS`.
    batch_size : int
        Images per forward pass; bounds memory together with the frame size.
    device : str or torch.device
        Default: CUDA when available, else CPU.
    measure_rules : mapping, optional
        Measurement rules of the results (keyword arguments of
        :func:`galseg.measure.measure_features`). Default (None): the rules stored
        with the model (``SegmenterMetadata.measure_rules``), which were chosen for it;
        ``{}`` gives :mod:`galseg.measure`'s defaults.

    Examples
    --------
    >>> seg = Segmenter()                                    # doctest: +SKIP
    >>> result = seg.segment("NGC1300.fits", redshift=0.005)  # doctest: +SKIP
    >>> result.measurements["bar_length_kpc"]                 # doctest: +SKIP
    """

    def __init__(
        self,
        model_path: str | PathLike[str] | None = None,
        *,
        scale: ScaleRule = "frame",
        views: int | None = None,
        batch_size: int = 32,
        device: str | torch.device | None = None,
        model: UNet | None = None,
        metadata: SegmenterMetadata | None = None,
        measure_rules: Mapping[str, Any] | None = None,
    ) -> None:
        if scale not in SCALE_RULES:
            raise ValueError(f"scale must be one of {SCALE_RULES}, got {scale!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        views = DEFAULT_VIEWS if views is None else views
        if isinstance(views, bool) or views not in DIHEDRAL_VIEWS:
            raise ValueError(f"views must be one of {sorted(DIHEDRAL_VIEWS)}, got {views!r}")
        self.device = torch.device(device) if device else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        if model is None:
            model, metadata = load_segmenter(model_path, device=self.device)
        elif metadata is None:
            raise ValueError("pass metadata together with model")
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.metadata = metadata
        self.measure_rules = dict(metadata.measure_rules if measure_rules is None
                                  else measure_rules)
        check_rules(**self.measure_rules)
        self.scale = scale
        self.views = views
        self.batch_size = batch_size

    # --- network ------------------------------------------------------------------
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            if self.views == 1:
                return self.model(batch).clamp_(0, 1).float().cpu()
            total = torch.zeros((batch.shape[0], 2, *batch.shape[-2:]), device=self.device)
            for k in DIHEDRAL_VIEWS[self.views]:
                total += inverse_dihedral(self.model(dihedral(batch, k)), k)
            return (total / self.views).clamp_(0, 1).cpu()

    def _model_shape(self, image: InputImage) -> tuple[int, int]:
        height, width = image.shape
        if self.scale == "native":
            return height, width
        if self.scale == "frame":
            return self.metadata.frame_size, self.metadata.frame_size
        if image.pixscale_arcsec is None:
            raise ValueError(f"{image.name}: scale='pixscale' needs a pixel scale (FITS WCS "
                             "or pixscale_arcsec)")
        factor = image.pixscale_arcsec / self.metadata.pixscale_arcsec
        return max(1, round(height * factor)), max(1, round(width * factor))

    def predict_maps(self, images: Sequence[InputImage]) -> list[np.ndarray]:
        """(2, H, W) float32 vote-fraction maps on each input's grid, batched by shape."""
        prepared = []
        for image in images:
            tensor = _to_tensor(image.rgb)
            offset = (0, 0)
            if self.scale == "frame":
                tensor, offset = pad_to_square(tensor)
            prepared.append((tensor, offset, self._model_shape(image)))
        outputs: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, (_, _, shape) in enumerate(prepared):
            by_shape.setdefault(shape, []).append(i)
        for shape, indices in by_shape.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                resized = [resize(prepared[i][0][None], shape)[0] for i in chunk]
                maps = self._forward(torch.stack(resized))
                for i, out in zip(chunk, maps, strict=True):
                    tensor, (top, left), _ = prepared[i]
                    full = resize(out[None], tuple(tensor.shape[-2:]))[0]
                    height, width = images[i].shape
                    outputs[i] = full[:, top:top + height, left:left + width].numpy()
        return outputs  # type: ignore[return-value]

    # --- user API -----------------------------------------------------------------
    def result(self, image: InputImage, maps: np.ndarray,
               redshift: float | None = None) -> SegmentationResult:
        """The result of ``image`` from its (2, H, W) maps (:meth:`predict_maps`),
        measured with this segmenter's :attr:`measure_rules`."""
        return SegmentationResult(image, maps[0], maps[1], redshift, self.measure_rules)

    def results(self, images: Sequence[InputImage],
                redshifts: Sequence[float | None] | None = None) -> list[SegmentationResult]:
        """:meth:`result` of each image, predicted in one call of :meth:`predict_maps`."""
        redshifts = [None] * len(images) if redshifts is None else redshifts
        return [self.result(image, maps, z) for image, maps, z
                in zip(images, self.predict_maps(images), redshifts, strict=True)]

    def segment(self, image: InputImage | str | PathLike[str], *,
                redshift: float | None = None) -> SegmentationResult:
        """Maps of one image (an :class:`InputImage` or a file path)."""
        return next(self.segment_many([image], redshifts=[redshift]))

    def segment_many(
        self,
        images: Iterable[InputImage | str | PathLike[str]],
        *,
        redshifts: Iterable[float | None] | None = None,
    ) -> Iterator[SegmentationResult]:
        """Yield one result per image, reading and predicting ``batch_size`` at a time."""
        redshift_iter = iter(redshifts) if redshifts is not None else None
        pending: list[tuple[InputImage, float | None]] = []

        def flush() -> Iterator[SegmentationResult]:
            yield from self.results([im for im, _ in pending], [z for _, z in pending])
            pending.clear()

        for item in images:
            image = item if isinstance(item, InputImage) else read_image(item)
            z = next(redshift_iter) if redshift_iter is not None else None
            pending.append((image, z))
            if len(pending) >= self.batch_size:
                yield from flush()
        if pending:
            yield from flush()


def _table_column(value: Any) -> np.ndarray:
    """One measurement as a one-row column for :func:`table_hdu_bytes`."""
    if isinstance(value, str):
        return np.array([value.encode("ascii", "replace") or b" "])
    return np.array([value])


def masks_fits_bytes(result: SegmentationResult, *, thresholds: Sequence[int] = (),
                     extra_cards: dict[str, Any] | None = None,
                     extra_measurements: dict[str, Any] | None = None) -> bytes:
    """The ``<name>_masks.fits`` file: vote-fraction maps, the masks the arms and the bar
    were measured on, optional threshold masks and a one-row MEASUREMENTS table, all on the
    input's pixel grid with its WCS. ``extra_measurements`` are more columns of that table
    (the classical bar's, ``galseg segment --classical-bar``).

    Serialised by :mod:`galseg.data._fitsbytes`: building the same file through astropy's
    HDU classes took about two thirds of ``galseg segment``'s time per cutout
    (docs/benchmarks.md); astropy reads it (tested).
    """
    wcs_cards = (header_card_images(result.image.wcs.to_header())
                 if result.image.wcs is not None else b"")
    primary = fits.Header()  # astropy here: INPUT may be a path too long for one card
    primary["INPUT"] = str(result.image.path or result.name)
    for key, value in (extra_cards or {}).items():
        primary[key] = value
    parts = [image_hdu_bytes(None, primary=True, extra_cards=header_card_images(primary))]

    def image(data: np.ndarray, name: str, *cards: tuple[str, Any, str]) -> None:
        extra = (card_image("EXTNAME", name, "extension name") + wcs_cards
                 + b"".join(card_image(*card) for card in cards))
        parts.append(image_hdu_bytes(data, primary=False, extra_cards=extra))

    for feature in ("spiral", "bar"):
        image(result.vote_fraction(feature).astype(np.float32), fraction_extname(feature),
              ("BUNIT", "", "fraction of volunteers (predicted)"))
    for feature, measured in (("spiral", result.arms), ("bar", result.bar)):
        image(measured.mask.astype(np.uint8), measured_mask_extname(feature),
              ("RULE", str(measured.threshold), "threshold rule (docs/measurements.md)"),
              ("LEVEL", float(measured.threshold_value), "vote fraction of the rule here"))
    for th in thresholds:
        for feature in ("spiral", "bar"):
            image(result.mask(feature, th).astype(np.uint8), mask_extname(feature, th),
                  ("THVOTES", int(th), f"votes out of {N_VOLUNTEERS}"))
    measurements = {**result.measurements, **(extra_measurements or {})}
    columns = [(key, _table_column(value)) for key, value in measurements.items()]
    parts.append(table_hdu_bytes(columns, card_image("EXTNAME", "MEASUREMENTS",
                                                     "extension name")))
    return b"".join(parts)


def masks_hdulist(result: SegmentationResult, *, thresholds: Sequence[int] = (),
                  extra_cards: dict[str, Any] | None = None) -> fits.HDUList:
    """:func:`masks_fits_bytes` as an astropy ``HDUList`` (in memory)."""
    return fits.HDUList.fromstring(masks_fits_bytes(result, thresholds=thresholds,
                                                    extra_cards=extra_cards))

