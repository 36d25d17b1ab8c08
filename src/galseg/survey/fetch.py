"""Cutouts from survey cutout services, kept in a local cache.

Two services are known (:data:`SERVICES`):

``legacy``
    The DESI Legacy Imaging Surveys viewer's FITS cutouts:
    ``<url>?ra=RA&dec=DEC&layer=LAYER&pixscale=ARCSEC&size=PIXELS&bands=grz``, a
    g, r, z cube in nanomaggies with a celestial WCS (default layer ``ls-dr10``,
    0.262 arcsec/px, the survey's own pixels).
``sdss``
    SDSS SkyServer colour JPEG cutouts:
    ``<url>?ra=RA&dec=DEC&scale=ARCSEC&width=PIXELS&height=PIXELS`` (default
    0.396 arcsec/px, the survey's own pixels); a JPEG has no WCS, so the pixel scale
    asked for is the image's (``--pixscale`` is set from it).

Each position is fetched once: the file is written atomically into the cache folder
under a name made of the service, layer, size, scale and position, and a position with
no data is remembered there as well (a ``.nodata`` file with the reason), so a run
started again does not ask again. Failed requests (connection errors, time-outs,
HTTP 429 and 5xx) are retried with exponential back-off; requests are spaced to at
most ``rate_per_s`` per process. A position has "no data" when the service answers
404 or sends an image whose pixels are all zero or not finite (what the services send
outside their footprints).
"""

from __future__ import annotations

import io
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galseg import __version__
from galseg.data._atomic import write_bytes_atomic


@dataclass(frozen=True)
class CutoutService:
    """How to ask one cutout service for an image.

    Attributes
    ----------
    name : str
    url : str
        The endpoint (documented URL of the service).
    suffix : str
        File suffix of what it sends (``.fits``, ``.jpeg``).
    pixscale_arcsec : float
        Default pixel scale (the survey's own pixels).
    layer : str or None
        Default data release / layer (Legacy Surveys only).
    """

    name: str
    url: str
    suffix: str
    pixscale_arcsec: float
    layer: str | None = None

    def query(self, ra: float, dec: float, *, size: int, pixscale_arcsec: float,
              layer: str | None) -> dict[str, str]:
        """The query parameters for one cutout."""
        position = {"ra": f"{ra:.7f}", "dec": f"{dec:.7f}"}
        if self.name == "legacy":
            return {**position, "layer": layer or self.layer or "", "pixscale":
                    f"{pixscale_arcsec:g}", "size": str(size), "bands": "grz"}
        return {**position, "scale": f"{pixscale_arcsec:g}", "width": str(size),
                "height": str(size)}


SERVICES = {
    "legacy": CutoutService("legacy", "https://www.legacysurvey.org/viewer/cutout.fits", ".fits",
                            0.262, "ls-dr10"),
    "sdss": CutoutService("sdss",
                          "https://skyserver.sdss.org/dr18/SkyServerWS/ImgCutout/getjpeg",
                          ".jpeg", 0.396),
}
"""The cutout services ``--fetch`` knows."""

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth asking again (busy or failing server); others are final."""


class FetchError(Exception):
    """A cutout could not be had; ``reason`` is one line for the catalog's error column."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RateLimit:
    """At most ``rate_per_s`` starts per second across the threads of one process."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.next_time = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_time)
            self.next_time = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass(frozen=True)
class FetchSettings:
    """What to fetch and how (picklable: it travels to the workers).

    Attributes
    ----------
    service : str
        A key of :data:`SERVICES`.
    cache_dir : str
        Folder of fetched files (shared by the workers, or one per machine).
    size : int
        Cutout side in pixels.
    pixscale_arcsec : float, optional
        Default: the service's.
    layer : str, optional
        Legacy Surveys layer; default the service's.
    url : str, optional
        Another endpoint with the same query (a mirror; tests use a local server).
    retries : int
        Further tries after a failed request.
    backoff_s : float
        Wait before the first retry; doubled at each further one.
    rate_per_s : float
        Most requests started per second (0: no limit): in one process for
        :class:`CutoutFetcher`; :func:`~galseg.survey.run.run_survey` divides it among
        its workers.
    timeout_s : float
        Time-out of one request.
    """

    service: str
    cache_dir: str
    size: int
    pixscale_arcsec: float | None = None
    layer: str | None = None
    url: str | None = None
    retries: int = 4
    backoff_s: float = 1.0
    rate_per_s: float = 5.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise ValueError(f"unknown cutout service {self.service!r}; known: "
                             f"{', '.join(SERVICES)}")
        if self.size < 1 or self.retries < 0 or self.backoff_s < 0 or self.rate_per_s < 0:
            raise ValueError("size must be >= 1; retries, backoff and rate >= 0")

    @property
    def spec(self) -> CutoutService:
        return SERVICES[self.service]

    @property
    def scale(self) -> float:
        """The pixel scale asked for."""
        return self.pixscale_arcsec or self.spec.pixscale_arcsec


class CutoutFetcher:
    """Fetches cutouts by position into a cache (module docstring). Thread-safe."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.cache = Path(settings.cache_dir)
        self.limit = _RateLimit(settings.rate_per_s)
        self.n_requests = 0

    def path_for(self, ra: float, dec: float) -> Path:
        """Where the cutout at ``(ra, dec)`` is (or will be) cached."""
        s = self.settings
        layer = s.layer or s.spec.layer or "default"
        folder = (self.cache / s.service / layer / f"{s.size}px_{s.scale:g}as"
                  / f"{int(ra) % 360:03d}")
        return folder / f"{ra:.7f}_{dec:+.7f}{s.spec.suffix}"

    def url_for(self, ra: float, dec: float) -> str:
        s = self.settings
        query = s.spec.query(ra, dec, size=s.size, pixscale_arcsec=s.scale, layer=s.layer)
        return f"{s.url or s.spec.url}?{urllib.parse.urlencode(query)}"

    def fetch(self, ra: float, dec: float) -> Path:
        """The cached file of the cutout at ``(ra, dec)``, fetched if needed.

        Raises
        ------
        FetchError
            Bad position, no data there (remembered), or every try failed.
        """
        if not (np.isfinite(ra) and np.isfinite(dec) and abs(dec) <= 90):
            raise FetchError("bad_coordinates")
        ra = float(ra) % 360.0
        path = self.path_for(ra, dec)
        nodata = path.with_name(path.name + ".nodata")
        if path.is_file():
            return path
        if nodata.is_file():
            raise FetchError(f"no data: {nodata.read_text().strip()}")
        data = self._download(self.url_for(ra, dec))
        path.parent.mkdir(parents=True, exist_ok=True)
        reason = None if data is None else _no_data_reason(data, self.settings.spec.suffix)
        if data is None or reason:
            reason = reason or "the service has no cutout here (HTTP 404)"
            write_bytes_atomic(nodata, (reason + "\n").encode())
            raise FetchError(f"no data: {reason}")
        write_bytes_atomic(path, data)
        return path

    def _download(self, url: str) -> bytes | None:
        """The response body; None for 404 (no data)."""
        s = self.settings
        request = urllib.request.Request(url, headers={"User-Agent": f"galseg/{__version__}"})
        last = ""
        for attempt in range(s.retries + 1):
            if attempt:
                time.sleep(s.backoff_s * 2 ** (attempt - 1))
            self.limit.wait()
            self.n_requests += 1
            try:
                with urllib.request.urlopen(request, timeout=s.timeout_s) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return None
                last = f"HTTP {error.code}"
                if error.code not in RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
                last = str(getattr(error, "reason", error))
        raise FetchError(f"fetch failed after {attempt + 1} tries ({last[:60]})")


def _no_data_reason(data: bytes, suffix: str) -> str | None:
    """Why ``data`` holds no image (unreadable, all zero or NaN), or None if it does."""
    if suffix == ".fits":
        from astropy.io import fits

        try:
            with fits.open(io.BytesIO(data)) as hdul:
                pixels = next((h.data for h in hdul if h.data is not None
                               and getattr(h.data, "ndim", 0) >= 2), None)
                pixels = None if pixels is None else np.asarray(pixels, dtype=np.float64)
        except Exception:  # astropy raises many types for damaged files
            return "the service sent an unreadable FITS file"
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        except (UnidentifiedImageError, OSError):
            return "the service sent an unreadable picture"
    if pixels is None or pixels.size == 0:
        return "the service sent no image"
    finite = np.isfinite(pixels)
    if not finite.any() or not np.any(pixels[finite] != 0):
        return "blank image (outside the survey's footprint)"
    return None


__all__ = ["SERVICES", "CutoutFetcher", "CutoutService", "FetchError", "FetchSettings"]
