#!/usr/bin/env bash
# Download Debian's stellarium-data package and unpack it (no installation), for the
# resolved NGC/IC/UGC galaxy textures that bars are labelled on (docs/bar_labels.md).
#   bash scripts/get_stellarium.sh [DEST]      # default DEST: runs/stellarium
# Needs apt-get (Debian/Ubuntu) and dpkg-deb; writes DEST/stellarium-data_*.deb and
# DEST/extract/usr/share/stellarium/nebulae/default/{textures.json,*.png}. The Messier
# textures (m*.png) come with the package but are kept for independent checks: galseg's
# labelling helper and benchmarks never list them.
set -euo pipefail
dest="${1:-runs/stellarium}"
# galseg's Python: $PYTHON, else the project's .venv (found before the cd below), else python3
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then python="$PWD/.venv/bin/python"; else python=python3; fi
fi
mkdir -p "$dest"
cd "$dest"
if ! ls stellarium-data_*_all.deb >/dev/null 2>&1; then
    apt-get update >/dev/null || echo "warning: apt-get update failed; trying the cached lists" >&2
    apt-get download stellarium-data
fi
deb=$(ls stellarium-data_*_all.deb | head -n 1)
rm -rf extract.tmp && mkdir extract.tmp
dpkg-deb -x "$deb" extract.tmp
rm -rf extract && mv extract.tmp extract
textures=extract/usr/share/stellarium/nebulae/default
echo "$(ls "$textures"/*.png | wc -l) textures in $PWD/$textures"
"$python" - "$textures" <<'PY'
import sys
from galseg.data.stellarium import read_stellarium_textures
table = read_stellarium_textures(sys.argv[1])
print(f"{len(table)} NGC/IC/UGC textures listed (Messier left out)")
PY
