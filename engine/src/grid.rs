//! The regular raster grid every gridded model and output shares: square cells in a projected
//! CRS, row 0 in the south. Rasters leave the engine north-up (GeoTIFF order) as `ndarray`
//! arrays indexed (band, row from north, column).

use serde::{Deserialize, Serialize};

/// A regular grid of square cells in a projected CRS. Row 0 is the southern row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Columns (west → east).
    pub nx: usize,
    /// Rows (south → north).
    pub ny: usize,
    /// Cell size, metres.
    pub cell_m: f64,
    /// Easting of the western edge.
    pub x0: f64,
    /// Northing of the southern edge.
    pub y0: f64,
    /// EPSG code of the CRS.
    pub epsg: u32,
}

impl Grid {
    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.nx * self.ny
    }

    /// Continuous cell coordinates of a projected point (cell centres at integers).
    pub fn cell_coords(&self, x: f64, y: f64) -> (f64, f64) {
        (
            (x - self.x0) / self.cell_m - 0.5,
            (y - self.y0) / self.cell_m - 0.5,
        )
    }

    /// The cell holding a projected point, if inside the grid.
    pub fn cell_of(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let (fx, fy) = ((x - self.x0) / self.cell_m, (y - self.y0) / self.cell_m);
        (fx >= 0.0 && fy >= 0.0 && fx < self.nx as f64 && fy < self.ny as f64)
            .then_some((fx as usize, fy as usize))
    }

    /// Projected coordinates of a cell centre.
    pub fn centre(&self, i: usize, j: usize) -> (f64, f64) {
        (
            self.x0 + (i as f64 + 0.5) * self.cell_m,
            self.y0 + (j as f64 + 0.5) * self.cell_m,
        )
    }
}
