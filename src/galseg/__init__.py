"""galseg: galaxy structure from images with deep learning.

The package follows the data flow:

``galseg.data``    reading and writing images and Galaxy Zoo 3D (GZ3D) files
``galseg.labels``  crowd labels: volunteer polygons -> vote-fraction maps, masks
``galseg.sim``     simulated galaxies with exact truth and simulated volunteers
``galseg.cli``     the ``galseg`` command, a thin layer over the above
"""

__version__ = "0.1.0"
