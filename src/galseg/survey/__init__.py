"""Survey scale: a task over a catalog of any size, partition by partition, on Dask.

``galseg survey`` (:func:`galseg.survey.run.run_survey`) reads a catalog in
partitions, runs ``segment``, ``shreds``, ``morphology`` or ``detect`` on the images
of each partition's rows on Dask workers, and writes one Parquet catalog with every
input row and column plus the task's columns. See docs/survey.md.

Modules: :mod:`~galseg.survey.run` (the client), :mod:`~galseg.survey.tasks` (what a
worker does with a partition), :mod:`~galseg.survey.output` (parts, resuming, the
merged catalog, the maps store), :mod:`~galseg.survey.fetch` (cutout services),
:mod:`~galseg.survey.hats` (HATS catalogs through lsdb).
"""
