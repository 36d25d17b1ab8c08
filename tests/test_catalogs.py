"""Catalog reading and writing: every row and column kept, ids never mangled."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from galseg.data.catalogs import catalog_format, read_catalog, write_catalog
from galseg.errors import InputFileError

# As astropy (and galseg) write CSV: minimal quoting, '\n' line ends.
CSV_TEXT = (
    "id,objID,big,ra,dec,mag,name,flag,count\n"
    "0012,1237648720693755918,12345678901234567890,150.100000,2.200000,19.5,\"a, b\",True,3\n"
    "0100,1237648720693755919,1,150.200000,-2.250000,0.30000000000000004,c,False,\n"
    "7,-5,2,150.300000,2.000000,,,True,-4\n"
)


def test_csv_round_trip_is_text_identical_and_keeps_ids(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(CSV_TEXT)
    table, fmt = read_catalog(path)
    assert fmt == "csv" and table.colnames == CSV_TEXT.split("\n")[0].split(",")
    # ids with leading zeros and numbers beyond int64 stay text; 19-digit objIDs are exact
    assert table["id"].dtype.kind == "U" and list(table["id"]) == ["0012", "0100", "7"]
    assert table["big"].dtype.kind == "U" and table["big"][0] == "12345678901234567890"
    assert table["objID"].dtype == np.int64 and table["objID"][0] == 1237648720693755918
    assert table["ra"].dtype == np.float64 and table["ra"][1] == 150.2
    assert table["flag"].dtype == bool and list(table["flag"]) == [True, False, True]
    # empty cells of numeric columns are masked; of text columns they stay ""
    assert table["mag"].mask.tolist() == [False, False, True]
    assert table["count"].dtype == np.int64 and table["count"].mask.tolist() == [False, True, False]
    assert table["name"][1] == "c" and table["name"][2] == ""
    write_catalog(table, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == CSV_TEXT


def test_csv_floats_in_mixed_styles_keep_their_values(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("x\n1.50\n2.125\n1E5\n")
    table, _ = read_catalog(path)
    assert table["x"].dtype == np.float64 and list(table["x"]) == [1.5, 2.125, 1e5]
    write_catalog(table, tmp_path / "out.csv")
    back, _ = read_catalog(tmp_path / "out.csv")
    assert list(back["x"]) == [1.5, 2.125, 1e5]


def _typed_table() -> Table:
    table = Table()
    table["objID"] = np.array([1237648720693755918, 1237648720693755919, 3], dtype=np.int64)
    table["ra"] = [150.1, 150.2, 150.3] * u.deg
    table["mag"] = np.array([19.5, np.nan, 21.0])
    table["name"] = ["a", "", "ccc"]
    table["n"] = MaskedColumn([1, 2, 3], mask=[False, True, False], dtype=np.int32)
    table["ok"] = [True, False, True]
    table.meta["TELESCOP"] = "Mayall"
    table.meta["SURVEY"] = "DR10"
    return table


def _assert_same(back: Table, table: Table) -> None:
    assert back.colnames == table.colnames and len(back) == len(table)
    for name in table.colnames:
        assert back[name].dtype.kind == table[name].dtype.kind, name
        assert back[name].dtype.itemsize == table[name].dtype.itemsize or name == "name"
        assert back[name].unit == table[name].unit
        a, b = np.ma.getdata(back[name]), np.ma.getdata(table[name])
        mask = np.ma.getmaskarray(table[name])
        assert np.array_equal(np.ma.getmaskarray(back[name]), mask), name
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), name
        else:
            assert np.array_equal(a[~mask], b[~mask]), name


@pytest.mark.parametrize("suffix", [".fits", ".fits.gz", ".ecsv", ".parquet"])
def test_typed_round_trip(tmp_path, suffix):
    table = _typed_table()
    path = write_catalog(table, tmp_path / f"cat{suffix}")
    back, fmt = read_catalog(path)
    assert fmt == catalog_format(path)
    _assert_same(back, table)
    assert back.meta["TELESCOP"] == "Mayall" and back.meta["SURVEY"] == "DR10"
    if suffix == ".fits.gz":
        with gzip.open(path) as handle:
            assert handle.read(6) == b"SIMPLE"
    if suffix.startswith(".fits"):
        assert np.isnan(back["mag"][1])  # NaN stays a value, not a mask
        assert fits.getheader(path, 1)["TUNIT2"] == "deg"


def test_fits_keeps_header_keywords_and_nulls(tmp_path):
    columns = [fits.Column(name="objID", format="K", array=np.array([1, 2, 3])),
               fits.Column(name="flux", format="E", unit="nanomaggy", array=[1.0, 2.0, 3.0]),
               fits.Column(name="n", format="J", null=-99, array=[5, -99, 7])]
    hdu = fits.BinTableHDU.from_columns(columns)
    hdu.header["EXTNAME"] = "SOURCES"
    hdu.header["RELEASE"] = (10, "data release")
    hdu.header["HISTORY"] = "made by hand"
    fits.HDUList([fits.PrimaryHDU(np.zeros((2, 2))), hdu]).writeto(tmp_path / "in.fits")
    table, _ = read_catalog(tmp_path / "in.fits")
    assert table["n"].mask.tolist() == [False, True, False]
    write_catalog(table, tmp_path / "out.fits")
    header = fits.getheader(tmp_path / "out.fits", 1)
    assert header["EXTNAME"] == "SOURCES" and header["RELEASE"] == 10
    assert "made by hand" in str(header["HISTORY"]) and header["TUNIT2"] == "nanomaggy"
    data = fits.getdata(tmp_path / "out.fits", 1)
    assert data["n"][1] == header["TNULL3"] and data["flux"].dtype.kind == "f"


def test_masked_booleans_are_false_in_fits(tmp_path):
    table = Table({"b": MaskedColumn([True, True], mask=[False, True])})
    write_catalog(table, tmp_path / "b.fits")
    assert list(fits.getdata(tmp_path / "b.fits", 1)["b"]) == [True, False]


def test_parquet_from_other_writers_with_nulls_and_dictionaries(tmp_path):
    arrow = pa.table({
        "objID": pa.array([1237648720693755918, None, 3], pa.int64()),
        "kind": pa.array(["PSF", "REX", None]).dictionary_encode(),
        "flux": pa.array([1.5, None, 2.5], pa.float32()),
        "ok": pa.array([True, None, False]),
    })
    pq.write_table(arrow, tmp_path / "in.parquet")
    table, _ = read_catalog(tmp_path / "in.parquet")
    assert table["objID"].dtype == np.int64 and table["objID"][0] == 1237648720693755918
    assert table["objID"].mask.tolist() == [False, True, False]
    assert list(table["kind"].filled("")) == ["PSF", "REX", ""]
    assert table["flux"].dtype == np.float32 and table["ok"].mask.tolist() == [False, True, False]
    write_catalog(table, tmp_path / "out.parquet")
    back = pq.read_table(tmp_path / "out.parquet")
    assert back.column("objID").to_pylist() == [1237648720693755918, None, 3]
    assert back.column("ok").to_pylist() == [True, None, False]
    assert back.schema.field("flux").type == pa.float32()


def test_format_from_name_or_given(tmp_path):
    assert [catalog_format(n) for n in ("a.FITS", "a.fit.gz", "a.csv", "a.pq", "a.txt")] == [
        "fits", "fits", "csv", "parquet", None]
    path = tmp_path / "cat.txt"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match="format"):
        read_catalog(path)
    table, fmt = read_catalog(path, format="csv")
    assert fmt == "csv" and table["b"][0] == 2
    with pytest.raises(ValueError, match="format must be one of"):
        read_catalog(path, format="votable")


def test_bad_catalogs_raise_input_file_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_catalog(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_catalog(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(InputFileError, match="no rows"):
        read_catalog(tmp_path / "header.csv")
    (tmp_path / "cut.csv").write_text("a,b,c\n1,2,3\n4,5")
    with pytest.raises(InputFileError, match="truncated"):
        read_catalog(tmp_path / "cut.csv")
    write_catalog(_typed_table(), tmp_path / "whole.fits")
    data = (tmp_path / "whole.fits").read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) - 100])
    with pytest.raises(InputFileError, match="truncated"):
        read_catalog(tmp_path / "cut.fits")
    (tmp_path / "cut2.fits").write_bytes(data[:4000])
    with pytest.raises(InputFileError, match="FITS"):
        read_catalog(tmp_path / "cut2.fits")
    fits.PrimaryHDU(np.zeros((3, 3))).writeto(tmp_path / "image.fits")
    with pytest.raises(InputFileError, match="no table"):
        read_catalog(tmp_path / "image.fits")
    write_catalog(_typed_table(), tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="Parquet"):
        read_catalog(tmp_path / "cut.parquet")
