#!/usr/bin/env python3
"""Writes the small DEM fixtures in tests/data/dem/ with rasterio (GDAL), as a real DEM would be
written, so that the engine's GeoTIFF reader is tested against files it did not write itself.

Every fixture holds elevation = 10 * row + col (metres) over a 40 x 30 grid with one nodata
cell at row 5, col 7; the tests check bilinear samples against that formula.
"""
import os

import numpy as np
import rasterio
from rasterio.transform import from_origin

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dem")
os.makedirs(here, exist_ok=True)
rows, cols = 30, 40
elev = (10 * np.arange(rows)[:, None] + np.arange(cols)[None, :]).astype(np.int16)
elev[5, 7] = -32768

# SRTM-like: geographic EPSG:4326, Int16, nodata -32768, pixel-is-area, 0.005 degree pixels
with rasterio.open(os.path.join(here, "srtm-like-4326.tif"), "w", driver="GTiff", width=cols,
                   height=rows, count=1, dtype="int16", crs="EPSG:4326", nodata=-32768,
                   transform=from_origin(107.0, 21.1, 0.005, 0.005), compress="deflate") as d:
    d.write(elev, 1)

# the same grid declared pixel-is-point (GDAL moves the tie point to the first pixel centre)
with rasterio.open(os.path.join(here, "srtm-like-4326-point.tif"), "w", driver="GTiff", width=cols,
                   height=rows, count=1, dtype="int16", crs="EPSG:4326", nodata=-32768,
                   transform=from_origin(107.0, 21.1, 0.005, 0.005)) as d:
    d.write(elev, 1)
    d.update_tags(AREA_OR_POINT="Point")

# projected: UTM 48N, Float32, 500 m pixels, no nodata declared, tiled
with rasterio.open(os.path.join(here, "utm48n-float32.tif"), "w", driver="GTiff", width=cols,
                   height=rows, count=1, dtype="float32", crs="EPSG:32648",
                   transform=from_origin(700000.0, 2330000.0, 500.0, 500.0), tiled=True,
                   blockxsize=16, blockysize=16) as d:
    d.write(np.where(elev == -32768, 0, elev).astype(np.float32), 1)

# a raster in a CRS the engine does not support (VN-2000 / UTM 48N, EPSG:3405)
with rasterio.open(os.path.join(here, "vn2000-unsupported.tif"), "w", driver="GTiff", width=4,
                   height=3, count=1, dtype="float32", crs="EPSG:3405",
                   transform=from_origin(700000.0, 2330000.0, 500.0, 500.0)) as d:
    d.write(np.zeros((3, 4), dtype=np.float32), 1)
