# galseg: the two commands.  `make demo` and `make test` each build .venv from scratch
# when it is missing (or when pyproject.toml changed), then run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo_output
	$(BIN)/galseg simulate demo_output/sim --n 24 --size 128 --seed 1 --bands
	$(BIN)/galseg labels demo_output/sim/gz3d/*.fits.gz --out demo_output/labels --png
	$(BIN)/galseg segment demo_output/sim/bands --out demo_output/segment \
		--catalog demo_output/sim/catalog.csv --thresholds 3
	$(BIN)/galseg shreds examples/shreds/catalog.csv --images examples/shreds/cutouts \
		--out demo_output/shreds/catalog_shreds.csv
	$(BIN)/galseg simulate demo_output/shred_field --n 1 --shred-fields --seed 3 --bands --quiet
	$(BIN)/galseg shreds demo_output/shred_field/catalog.csv \
		--field demo_output/shred_field/fields/f000000.fits \
		--out demo_output/shred_field/catalog_shreds.fits
	$(BIN)/galseg detect examples/detect --out demo_output/detect --quiet
	$(BIN)/galseg simulate demo_output/detect_field --n 1 --detection-fields --size 2048 \
		--seed 3 --quiet
	$(BIN)/galseg detect demo_output/detect_field/fields/d000000.fits \
		--out demo_output/detect_field/detect --quiet
	@echo "demo done: demo_output/segment/catalog.csv and *_overlay.png (spiral arms and bars"
	@echo "found by the shipped model), demo_output/sim (simulated GZ3D files and truth),"
	@echo "demo_output/shreds/catalog_shreds.csv (the example catalog with p_shred) and"
	@echo "demo_output/shred_field/catalog_shreds.fits (sources cut from a simulated field),"
	@echo "demo_output/detect/catalog.csv and demo_output/detect_field/detect/catalog.csv"
	@echo "(every galaxy found, outlined and classified, with *_segmap.fits and *_overlay.png)"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) demo_output build *.egg-info src/*.egg-info .pytest_cache
