"""MoNuSeg 2018 (H&E nuclei, instance annotations): Aperio ImageScope XML reader, polygon
rasterisation, processor and a synthetic replica (issue 17; shared/data/SOURCES.md §7).

Raw layout (``--raw-root``): ``MoNuSeg/MoNuSegTestData/TCGA-<id>.tif`` (1000x1000 RGB TIFF) with
``TCGA-<id>.xml`` (ImageScope XML: one ``<Region>`` polygon per nucleus, ``<Vertex X= Y=>`` in
pixel coordinates). Kumar et al., IEEE TMI 36(7), 2017 and IEEE TMI 39(5), 2020. Only the official
test split (14 images) can be had here; it stands in as the real histology/instance data set.

Rasterisation rule (stated and tested, see :func:`rasterise_instances`):

- coordinates: ``X`` = column, ``Y`` = row, 0-based, a vertex at ``(X, Y)`` is the CENTRE of pixel
  ``(row Y, column X)``; vertices off the image are clipped. (The organisers' Matlab code passes the
  same numbers to ``poly2mask``, whose coordinates are 1-based: its masks sit one pixel up and left
  of these; most Python converters use the 0-based reading, as here.)
- a pixel belongs to a polygon when its centre lies inside the polygon or ON its outline
  (``skimage.draw.polygon``): the annotators traced the nuclei's outline through boundary pixels.
- overlapping polygons: the EARLIER polygon in the file keeps the shared pixels, as in the
  organisers' mask code (``he_to_binary_mask``: new labels only fill unlabelled pixels).
- ids: 1..K in file order over the polygons that keep at least one pixel (a polygon enclosing no
  pixel centre, or entirely covered by earlier ones, gets no id); 0 = no nucleus.

Class 1 = nucleus (any instance).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import tifffile

from data import DataError
from data.processing import ProcessedSample, centred_padding, pad
from data.raw import MissingRawDataError, RawSample, Source, check_rgb, read_image_file, require_dir

MONUSEG_DIR = Path("MoNuSeg") / "MoNuSegTestData"


# ---------------------------------------------------------------------------------- XML


def _vertex(path: Path, region_id: str, vertex: ET.Element) -> tuple[float, float]:
    """(x, y) of one ``<Vertex>``; DataError when an attribute is missing or not a finite number."""
    try:
        x, y = float(vertex.attrib["X"]), float(vertex.attrib["Y"])
    except (KeyError, ValueError) as err:
        raise DataError(
            f"{path}: malformed polygon in Region Id={region_id}: vertex {vertex.attrib} needs numeric X and Y"
        ) from err
    if not (np.isfinite(x) and np.isfinite(y)):
        raise DataError(f"{path}: malformed polygon in Region Id={region_id}: non-finite vertex ({x}, {y})")
    return x, y


def read_imagescope_polygons(path: Path) -> list[np.ndarray]:
    """Polygons of an Aperio ImageScope XML file, in file order: float64 ``(K, 2)`` arrays of (x, y).

    Every ``<Region>`` of every ``<Annotation>`` is one polygon (its ``<Vertices>``).

    Raises:
        DataError: missing or unparsable file, a file without ``<Annotations>`` root, a region
            with fewer than 3 vertices, a vertex without numeric finite X/Y.
    """
    if not path.is_file():
        raise MissingRawDataError(path, "ImageScope XML annotation")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DataError(f"{path}: not well-formed XML ({err})") from err
    if root.tag != "Annotations":
        raise DataError(f"{path}: expected an Aperio ImageScope <Annotations> root, got <{root.tag}>")
    polygons = []
    for region in root.iter("Region"):
        rid = region.attrib.get("Id", "?")
        points = [_vertex(path, rid, v) for v in region.iter("Vertex")]
        if len(points) < 3:
            raise DataError(
                f"{path}: malformed polygon in Region Id={rid}: {len(points)} vertices, need at least 3"
            )
        polygons.append(np.asarray(points, dtype=np.float64))
    return polygons


# ------------------------------------------------------------------------ rasterisation


def rasterise_instances(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Instance ids int32 ``(H,W)`` of ``polygons`` ((x, y) vertex arrays) by the module's rule:
    pixel centres inside or on a polygon, earlier polygons win overlaps, ids 1..K in file order
    over the polygons that keep pixels, 0 = none."""
    from skimage.draw import polygon as fill_polygon  # imported on use: skimage is slow to import

    raw = np.zeros(shape, np.int32)
    for k, poly in enumerate(polygons, start=1):
        rr, cc = fill_polygon(poly[:, 1], poly[:, 0], shape)
        free = raw[rr, cc] == 0
        raw[rr[free], cc[free]] = k
    kept = np.unique(raw)
    kept = kept[kept > 0]
    lookup = np.zeros(len(polygons) + 1, np.int32)
    lookup[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    return lookup[raw]


# ------------------------------------------------------------------------------- reader


def read_monuseg(base: Path) -> list[RawSample]:
    """MoNuSeg: ``MoNuSeg/MoNuSegTestData/*.tif`` + same-stem ``.xml``, ordered by file name.

    Sample id = file stem (``TCGA-2Z-A9J9-01A-01-TS1``); label = rasterised instance ids (int32).
    """
    root = require_dir(base / MONUSEG_DIR, "MoNuSeg test-split folder")
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not images:
        raise MissingRawDataError(root / "TCGA-2Z-A9J9-01A-01-TS1.tif", "MoNuSeg images (TCGA-*.tif)")
    samples = []
    for img_path in images:
        xml_path = img_path.with_suffix(".xml")
        if not xml_path.is_file():
            raise DataError(f"{img_path}: image without its annotation; expected {xml_path}")
        image = read_image_file(img_path)
        check_rgb(img_path, image)
        instances = rasterise_instances(read_imagescope_polygons(xml_path), image.shape[:2])
        samples.append(
            RawSample(
                id=img_path.stem,
                image=image,
                label=instances,
                sources=(Source("image", img_path), Source("instances", xml_path)),
            )
        )
    return samples


def process_monuseg(
    sid: str, image: np.ndarray, label: np.ndarray, fov: np.ndarray | None
) -> ProcessedSample:
    """MoNuSeg: image padded with 255 (white, no tissue) and instance ids with 0 (no nucleus) to a
    multiple of 32 (1000 -> 1024, as GlaS's padding); class 1 = nucleus = ``instances > 0``."""
    padding = centred_padding(image.shape[:2])
    instances = pad(label.astype(np.int32), padding, "constant", 0)
    return ProcessedSample(
        id=sid,
        image=pad(image, padding, "constant", 255),
        mask=instances > 0,
        fov=None,
        instances=instances,
        original_size=tuple(image.shape[:2]),
        padding=padding,
    )


# ---------------------------------------------------------------------- synthetic replica

#: Replica size: the real 1000x1000 / 4 (padded to 256x256).
MONUSEG_SYNTH_SIZE = (250, 250)


def synth_nuclei_polygons(rng: np.random.Generator, size: tuple[int, int]) -> list[np.ndarray]:
    """Elliptical nucleus outlines (x, y) with fractional vertices; about one in six is placed to
    overlap its predecessor, so the overlap rule is exercised."""
    h, w = size
    polygons = []
    for k in range(int(rng.integers(25, 45))):
        if k and rng.random() < 1 / 6:
            cx, cy = (
                polygons[-1][:, 0].mean() + rng.uniform(-6, 6),
                polygons[-1][:, 1].mean() + rng.uniform(-6, 6),
            )
        else:
            cx, cy = rng.uniform(-2, w + 1), rng.uniform(-2, h + 1)
        a, b, phi = rng.uniform(3, 7), rng.uniform(2.5, 5), rng.uniform(0, np.pi)
        t = np.linspace(0, 2 * np.pi, int(rng.integers(12, 24)), endpoint=False)
        x = cx + a * np.cos(t) * np.cos(phi) - b * np.sin(t) * np.sin(phi)
        y = cy + a * np.cos(t) * np.sin(phi) + b * np.sin(t) * np.cos(phi)
        polygons.append(np.round(np.column_stack([x, y]), 3))
    return polygons


def synth_he_image(rng: np.random.Generator, instances: np.ndarray) -> np.ndarray:
    """H&E-like uint8 RGB tile: eosin-pink tissue, haematoxylin-purple nuclei with texture."""
    from data.synthetic import _smooth_noise, _to_uint8

    size = instances.shape
    tissue = np.array([0.93, 0.68, 0.82]) + 0.05 * _smooth_noise(rng, size, 4)[..., None]
    nucleus = np.array([0.40, 0.24, 0.58]) + 0.06 * _smooth_noise(rng, size, 1)[..., None]
    img = np.where(instances[..., None] > 0, nucleus, tissue)
    return _to_uint8(img + 0.02 * rng.standard_normal(img.shape))


def imagescope_xml(polygons: list[np.ndarray], microns_per_pixel: float = 0.2527) -> bytes:
    """An Aperio ImageScope XML document with one ``<Region>`` per polygon (the real files' elements)."""
    root = ET.Element("Annotations", MicronsPerPixel=f"{microns_per_pixel:.6f}")
    ann = ET.SubElement(root, "Annotation", Id="1", Name="", Type="4", LineColor="65280", Visible="1")
    ET.SubElement(ann, "Attributes")
    regions = ET.SubElement(ann, "Regions")
    headers = ET.SubElement(regions, "RegionAttributeHeaders")
    ET.SubElement(headers, "AttributeHeader", Id="9999", Name="Region", ColumnWidth="-1")
    for k, poly in enumerate(polygons, start=2):  # the real files number regions from 2
        region = ET.SubElement(regions, "Region", Id=str(k), Type="0", NegativeROA="0", DisplayId=str(k))
        ET.SubElement(region, "Attributes")
        vertices = ET.SubElement(region, "Vertices")
        for x, y in poly:
            ET.SubElement(vertices, "Vertex", X=f"{x:g}", Y=f"{y:g}")
    ET.SubElement(ann, "Plots")
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8") + b"\n"


def write_synth_monuseg(top: Path, samples: int, seed: int) -> None:
    """Write ``samples`` MoNuSeg replicas into ``top`` (= ``<raw-root>/synthetic/MoNuSeg``):
    ``MoNuSegTestData/TCGA-SY-NNNN-01A-01-TS1.tif`` (RGB, PackBits, as the real files) + ``.xml``."""
    folder = top / MONUSEG_DIR.relative_to("MoNuSeg")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(samples):
        rng = np.random.default_rng([seed, i])
        polygons = synth_nuclei_polygons(rng, MONUSEG_SYNTH_SIZE)
        image = synth_he_image(rng, rasterise_instances(polygons, MONUSEG_SYNTH_SIZE))
        stem = f"TCGA-SY-{i + 1:04d}-01A-01-TS1"
        tifffile.imwrite(folder / f"{stem}.tif", image, photometric="rgb", compression="packbits")
        (folder / f"{stem}.xml").write_bytes(imagescope_xml(polygons))
