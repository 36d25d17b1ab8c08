"""Blinded expert review of masks in the browser (``galseg review``, docs/review.md).

A team compares two sources of vote-fraction maps (two models, or a model and the
crowd) the way Walmsley & Spindler (2023) did: reviewers see one image with two mask
outlines, A and B, not told which source is which, and say which is better.

=============  ==================================================================
module         what it does
=============  ==================================================================
``sources``    folders of vote-fraction FITS (``galseg segment``, ``galseg labels``),
               masks at a vote threshold, galaxies matched by name or sky position
``prepare``    ``prepare_review``: pairs of masks, the side of each source drawn at
               random, outlines and images written into the review folder
``store``      the review's SQLite database (WAL): pairs, reviewers, every choice
``app``        the web app (Starlette): token links, the page, the JSON API
``report``     per-source preference with binomial intervals, Fleiss' kappa,
               tables and the figure
=============  ==================================================================
"""
