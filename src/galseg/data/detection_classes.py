"""The object classes of detection examples and of the galaxy detector.

A module of its own, importing nothing, so that the detector's configuration
(:class:`galseg.models.configs.DetectorConfig`) and ``galseg --help`` can read the
classes without the file readers of :mod:`galseg.data.detection_examples`
(astropy, scipy).
"""

DETECTION_CLASSES = ("spiral", "elliptical", "star")
"""Object classes, in the order of the detector's class indices 1, 2, 3 (0 = background)."""
