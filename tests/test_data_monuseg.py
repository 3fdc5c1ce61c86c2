"""MoNuSeg: the rasterisation rule (edges, overlaps, ids, clipping), the ImageScope XML reader and its
errors, the TIFF + XML replica, and the processed layout (instances/, class 1 = nucleus, white padding)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from data import DataError
from data.monuseg import (
    MONUSEG_DIR,
    imagescope_xml,
    rasterise_instances,
    read_imagescope_polygons,
    read_monuseg,
)
from data.prepare import main


def _square(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


# ------------------------------------------------------------------------ rasterisation


def test_pixels_on_the_outline_belong_to_the_polygon():
    # vertices at pixel centres (x = column, y = row): the closed square covers 3x3 pixels
    inst = rasterise_instances([_square(1, 2, 3, 4)], (6, 6))
    expected = np.zeros((6, 6), np.int32)
    expected[2:5, 1:4] = 1
    np.testing.assert_array_equal(inst, expected)
    # a diagonal edge through pixel centres keeps them: x + y <= 4 in the corner triangle
    tri = rasterise_instances([np.array([[0, 0], [4, 0], [0, 4]], float)], (6, 6))
    yy, xx = np.mgrid[:6, :6]
    np.testing.assert_array_equal(tri, (xx + yy <= 4).astype(np.int32))
    # fractional vertices: only centres inside count (x in [0.5, 2.5] -> columns 1, 2)
    frac = rasterise_instances([_square(0.5, 0.5, 2.5, 1.5)], (4, 4))
    assert np.argwhere(frac).tolist() == [[1, 1], [1, 2]]


def test_earlier_polygon_wins_overlaps_and_ids_follow_file_order():
    polys = [
        _square(0, 0, 3, 3),  # id 1
        _square(2, 2, 5, 5),  # overlaps id 1 on the 2x2 block rows/cols 2-3
        _square(1, 1, 2, 2),  # entirely inside polygon 1: keeps no pixel, gets no id
        _square(7.2, 7.2, 7.8, 7.8),  # encloses no pixel centre: no id
        _square(6, 0, 7, 1),  # id 3 (ids stay consecutive)
    ]
    inst = rasterise_instances(polys, (9, 9))
    assert inst.dtype == np.int32
    assert (inst[0:4, 0:4] == 1).all()
    assert (inst[2:4, 2:4] == 1).all()  # the shared block stays with the earlier polygon
    assert (inst[4:6, 2:6] == 2).all() and (inst[2:4, 4:6] == 2).all()
    assert np.count_nonzero(inst == 2) == 16 - 4
    assert (inst[0:2, 6:8] == 3).all()
    assert sorted(np.unique(inst).tolist()) == [0, 1, 2, 3]


def test_vertices_off_the_image_are_clipped():
    inst = rasterise_instances([_square(-1, -1, 1, 1)], (4, 4))
    assert np.argwhere(inst).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


# ----------------------------------------------------------------------------- XML


def test_xml_round_trip_and_file_order(tmp_path):
    polys = [_square(1, 2, 3, 4), np.array([[10.25, 3.5], [12.0, 3.5], [11.0, 6.75]])]
    path = tmp_path / "a.xml"
    path.write_bytes(imagescope_xml(polys))
    back = read_imagescope_polygons(path)
    assert len(back) == 2
    for a, b in zip(polys, back):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "<Annotations><Annotation><Regions><Region Id='7'><Vertices><Vertex X='1' Y='1'/><Vertex X='2' Y='1'/>"
            "</Vertices></Region></Regions></Annotation></Annotations>",
            "Region Id=7: 2 vertices",
        ),
        (
            "<Annotations><Annotation><Regions><Region Id='3'><Vertices><Vertex X='1' Y='1'/><Vertex X='abc' Y='1'/>"
            "<Vertex X='2' Y='2'/></Vertices></Region></Regions></Annotation></Annotations>",
            "malformed polygon in Region Id=3",
        ),
        (
            "<Annotations><Annotation><Regions><Region Id='4'><Vertices><Vertex X='1' Y='1'/><Vertex Y='1'/>"
            "<Vertex X='2' Y='2'/></Vertices></Region></Regions></Annotation></Annotations>",
            "needs numeric X and Y",
        ),
        (
            "<Annotations><Annotation><Regions><Region Id='5'><Vertices><Vertex X='1' Y='1'/><Vertex X='nan' Y='1'/>"
            "<Vertex X='2' Y='2'/></Vertices></Region></Regions></Annotation></Annotations>",
            "non-finite",
        ),
        ("<Annotations><Region>", "not well-formed XML"),
        ("<Slide/>", "Annotations> root"),
    ],
)
def test_malformed_xml_raises(tmp_path, text, match):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_imagescope_polygons(path)


# ------------------------------------------------------------------------- replica + prepare


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monuseg")
    rc = main(
        [
            "--dataset",
            "synth-monuseg",
            "--raw-root",
            str(tmp / "raw"),
            "--out-root",
            str(tmp / "out"),
            "--maps",
            "none",
            "--no-progress",
            "--synth-samples",
            "3",
        ]
    )
    assert rc == 0
    return tmp


def test_replica_formats(prepared):
    folder = prepared / "raw" / "synthetic" / MONUSEG_DIR
    assert sorted(p.name for p in folder.iterdir())[:2] == [
        "TCGA-SY-0001-01A-01-TS1.tif",
        "TCGA-SY-0001-01A-01-TS1.xml",
    ]
    with tifffile.TiffFile(folder / "TCGA-SY-0001-01A-01-TS1.tif") as tif:
        page = tif.pages[0]
        assert (
            page.compression == tifffile.COMPRESSION.PACKBITS and page.photometric == tifffile.PHOTOMETRIC.RGB
        )
        assert page.shape == (250, 250, 3)
    text = (folder / "TCGA-SY-0001-01A-01-TS1.xml").read_text()
    assert text.startswith('<Annotations MicronsPerPixel="0.252700">') and '<Region Id="2" Type="0"' in text


def test_replica_has_overlapping_polygons(prepared):
    folder = prepared / "raw" / "synthetic" / MONUSEG_DIR
    polys = read_imagescope_polygons(folder / "TCGA-SY-0001-01A-01-TS1.xml")
    alone = [np.count_nonzero(rasterise_instances([p], (250, 250))) for p in polys]
    inst = rasterise_instances(polys, (250, 250))
    assert np.count_nonzero(inst) < sum(alone)  # some pixels are claimed by two polygons


def test_processed_layout(prepared):
    out = prepared / "out" / "synth-monuseg"
    meta = json.loads((out / "metadata.json").read_text())
    assert (
        meta["padded_size"] == [256, 256] and meta["train_crop"] == [128, 128] and meta["class1"] == "nucleus"
    )
    assert not (out / "fov").exists() and not (out / "masks2").exists()
    raw = read_monuseg(prepared / "raw" / "synthetic")
    assert [s.id for s in raw] == [m["id"] for m in meta["samples"]]
    for i, sample in enumerate(raw):
        inst = np.load(out / "instances" / f"{i:03d}.npy")
        assert inst.dtype == np.int32
        np.testing.assert_array_equal(inst, np.pad(sample.label, 3))
        with Image.open(out / "masks" / f"{i:03d}.png") as im:
            np.testing.assert_array_equal(np.asarray(im), np.where(inst > 0, 255, 0))
        with Image.open(out / "images" / f"{i:03d}.png") as im:
            img = np.asarray(im)
        assert (img[:3] == 255).all() and (img[:, -3:] == 255).all()  # white padding
        np.testing.assert_array_equal(img[3:-3, 3:-3], sample.image)
        assert [s["role"] for s in meta["samples"][i]["sources"]] == ["image", "instances"]


def test_reader_errors(prepared, tmp_path):
    import shutil

    base = tmp_path / "raw"
    shutil.copytree(prepared / "raw" / "synthetic" / MONUSEG_DIR, base / MONUSEG_DIR)
    (base / MONUSEG_DIR / "TCGA-SY-0002-01A-01-TS1.xml").unlink()
    with pytest.raises(DataError, match="TCGA-SY-0002-01A-01-TS1.xml"):
        read_monuseg(base)
    for p in (base / MONUSEG_DIR).iterdir():
        p.unlink()
    with pytest.raises(DataError, match="MoNuSeg images"):
        read_monuseg(base)
