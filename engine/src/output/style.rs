//! QGIS layer styles (`.qml`) for the rasters a run writes: the same log-scaled viridis and the
//! same range as the PNG maps, so a planner who opens `concentration.tif` in QGIS sees what the
//! PNG shows. QGIS loads `NAME.qml` beside `NAME.tif` by itself.

use std::fmt::Write as _;
use std::path::Path;

use super::OutputError;
use super::map::{LogScale, viridis};

/// Colour stops per decade: QGIS interpolates linearly between stops, so a log scale needs
/// several per decade to look like the PNG (8 keep the colour error under 1 %).
const STOPS_PER_DECADE: u32 = 8;

/// The text of a QML style: band `band` (1-based) as singleband pseudocolour, log viridis from
/// `scale.min` to `scale.max` (values outside not drawn), 80 % opaque like the PNG overlay.
pub fn qml(band: usize, scale: LogScale, unit: &str) -> String {
    let decades = (scale.max / scale.min).log10().max(1e-9);
    let n = ((decades * f64::from(STOPS_PER_DECADE)).round() as u32).max(2);
    let mut items = String::new();
    for k in 0..=n {
        let t = f64::from(k) / f64::from(n);
        let value = scale.min * 10f64.powf(t * decades);
        let [r, g, b] = viridis(t);
        let label = if k % STOPS_PER_DECADE == 0 || k == n {
            format!("{value:.3e} {unit}")
        } else {
            String::new()
        };
        let _ = writeln!(
            items,
            "          <item alpha=\"255\" value=\"{value:e}\" label=\"{label}\" color=\"#{r:02x}{g:02x}{b:02x}\"/>"
        );
    }
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n\
<qgis version=\"3.28.0\" styleCategories=\"AllStyleCategories\">\n\
  <pipe>\n\
    <rasterrenderer type=\"singlebandpseudocolor\" band=\"{band}\" opacity=\"0.8\" alphaBand=\"-1\" classificationMin=\"{min:e}\" classificationMax=\"{max:e}\" nodataColor=\"\">\n\
      <rastershader>\n\
        <colorrampshader colorRampType=\"INTERPOLATED\" classificationMode=\"1\" clip=\"1\" minimumValue=\"{min:e}\" maximumValue=\"{max:e}\" labelPrecision=\"3\">\n\
{items}\
        </colorrampshader>\n\
      </rastershader>\n\
    </rasterrenderer>\n\
  </pipe>\n\
</qgis>\n",
        min = scale.min,
        max = scale.max,
    )
}

/// Writes [`qml`] to `path`.
pub fn write_qml(path: &Path, band: usize, scale: LogScale, unit: &str) -> Result<(), OutputError> {
    std::fs::write(path, qml(band, scale, unit)).map_err(|e| OutputError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_spans_the_map_scale_with_viridis_ends() {
        let scale = LogScale {
            min: 0.01,
            max: 100.0,
        };
        let text = qml(2, scale, "µg/m³");
        assert!(text.contains("band=\"2\""));
        let values: Vec<f64> = text
            .split("value=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(values.len(), 4 * 8 + 1);
        assert!((values[0] - 0.01).abs() < 1e-12);
        assert!((values[32] - 100.0).abs() < 1e-9);
        // stops equally spaced in log10
        for w in values.windows(2) {
            assert!(((w[1] / w[0]).log10() - 0.125).abs() < 1e-9);
        }
        assert!(text.contains("color=\"#440154\""));
        assert!(text.contains("color=\"#fde725\""));
        assert!(text.contains("clip=\"1\""));
    }
}
