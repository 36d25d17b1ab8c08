"""Training of galseg models (the CLI `galseg train` is a thin layer over this)."""
