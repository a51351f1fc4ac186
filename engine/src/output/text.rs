//! Text on map images: a system TrueType font (DejaVu Sans, which `scripts/setup` installs as
//! `fonts-dejavu-core`; the telemetry report's plots use the same) rasterised with `ab_glyph`
//! and blended by coverage. On a machine without any of the fonts looked for, maps fall back
//! to the built-in 5×7 bitmap font rather than fail.

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};

use super::map::{Image, draw_text};

/// System fonts tried, in order.
pub const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

/// The bytes of the first system font found (read once per process).
pub fn font_bytes() -> Option<&'static [u8]> {
    static BYTES: std::sync::OnceLock<Option<&'static [u8]>> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        FONT_PATHS.iter().find_map(|p| {
            std::fs::read(p)
                .ok()
                .map(|b| &*Box::leak(b.into_boxed_slice()))
        })
    })
}

/// Draws text: TrueType when a system font exists, else the bitmap font.
#[derive(Clone)]
pub struct Pen {
    font: Option<FontArc>,
}

impl std::fmt::Debug for Pen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pen")
            .field("truetype", &self.font.is_some())
            .finish()
    }
}

impl Default for Pen {
    fn default() -> Self {
        Self::system()
    }
}

impl Pen {
    /// A pen with the system font, or the bitmap fallback.
    pub fn system() -> Self {
        Self {
            font: font_bytes().and_then(|b| FontArc::try_from_slice(b).ok()),
        }
    }

    /// Whether text is drawn with a TrueType font.
    pub fn is_truetype(&self) -> bool {
        self.font.is_some()
    }

    /// Each glyph of `text` set at `size` px with its pen position (kerning applied), and the
    /// advance of the whole line: the one layout both [`Self::width`] and [`Self::draw`] use.
    fn layout(font: &FontArc, text: &str, size: f32) -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
        let s = font.as_scaled(PxScale::from(size));
        let mut caret = 0.0;
        let mut last = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = s.glyph_id(c);
            if let Some(p) = last {
                caret += s.kern(p, id);
            }
            glyphs.push((id, caret));
            caret += s.h_advance(id);
            last = Some(id);
        }
        (glyphs, caret)
    }

    /// Width of `text` at `size` px (the em height), px.
    pub fn width(&self, text: &str, size: f32) -> i64 {
        match &self.font {
            Some(f) => Self::layout(f, text, size).1.ceil() as i64,
            None => text.chars().count() as i64 * 6 * bitmap_scale(size),
        }
    }

    /// Draws `text` with its top-left corner at (x, y), `size` px high; returns its width.
    pub fn draw(
        &self,
        img: &mut Image,
        text: &str,
        x: i64,
        y: i64,
        size: f32,
        colour: [u8; 4],
    ) -> i64 {
        let Some(f) = &self.font else {
            draw_text(img, text, x, y, bitmap_scale(size), colour);
            return self.width(text, size);
        };
        let baseline = y as f32 + f.as_scaled(PxScale::from(size)).ascent();
        let (glyphs, advance) = Self::layout(f, text, size);
        for (id, pen) in glyphs {
            let glyph = id.with_scale_and_position(size, point(x as f32 + pen, baseline));
            if let Some(outline) = f.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    img.blend(
                        b.min.x as i64 + i64::from(gx),
                        b.min.y as i64 + i64::from(gy),
                        colour,
                        coverage,
                    );
                });
            }
        }
        advance.ceil() as i64
    }

    /// Draws text with a one-pixel white halo, readable over any map colour.
    pub fn draw_halo(
        &self,
        img: &mut Image,
        text: &str,
        x: i64,
        y: i64,
        size: f32,
        colour: [u8; 4],
    ) -> i64 {
        for (dx, dy) in [
            (-1, 0),
            (1, 0),
            (0, -1),
            (0, 1),
            (-1, -1),
            (1, 1),
            (-1, 1),
            (1, -1),
        ] {
            self.draw(img, text, x + dx, y + dy, size, [255, 255, 255, 255]);
        }
        self.draw(img, text, x, y, size, colour)
    }
}

/// The bitmap font's integer scale for a text size in px (its glyphs are 7 px high at scale 1).
fn bitmap_scale(size: f32) -> i64 {
    ((size / 8.0).round() as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_leaves_ink_and_measures_its_width() {
        let pen = Pen::system();
        let mut img = Image::new(200, 40, [255, 255, 255, 255]);
        let w = pen.draw(&mut img, "PM2.5 µg/m³", 4, 4, 18.0, [0, 0, 0, 255]);
        assert!(w > 40 && w < 200, "{w}");
        assert_eq!(w, pen.width("PM2.5 µg/m³", 18.0));
        let dark = img.rgba.chunks(4).filter(|p| p[0] < 128).count();
        assert!(dark > 50, "{dark} dark pixels");
        // nothing drawn right of the measured width (plus a pixel of anti-aliasing)
        for y in 0..40 {
            for x in (4 + w + 2) as usize..200 {
                assert_eq!(img.get(x, y)[0], 255, "ink at ({x}, {y})");
            }
        }
    }
}
