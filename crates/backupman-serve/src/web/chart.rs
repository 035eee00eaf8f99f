//! Small SVG charts drawn on the server: a line over the last backups of a source (size or
//! duration), scaled from zero so a sudden drop shows as one. No script, no inline style:
//! the colours come from the stylesheet's classes, so the page's CSP needs nothing extra.

use std::fmt::Write;

/// Backups a chart shows at most.
pub(crate) const POINTS: usize = 30;

/// Chart size in SVG units: small enough for a table cell.
const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 32.0;
/// Room for the line's width and the last point's dot.
const PAD: f64 = 3.0;

/// Writes a line chart of `values` (oldest first) with `class` (`size` or `time`), described
/// by `label` for screen readers and on hover. Nothing drawn for fewer than two values.
pub(crate) fn line(out: &mut String, values: &[f64], class: &str, label: &str) {
    let values = &values[values.len().saturating_sub(POINTS)..];
    if values.len() < 2 {
        let _ = write!(out, "<span class=\"nochart\">{label}</span>");
        return;
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (HEIGHT - 2.0 * PAD) / max
    } else {
        0.0
    };
    // At most POINTS values: the index is exact.
    #[allow(clippy::cast_precision_loss)]
    let step = (WIDTH - 2.0 * PAD) / (values.len() - 1) as f64;
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title><polyline points=\""
    );
    let mut last = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = PAD + step * i as f64;
        let y = HEIGHT - PAD - v.max(0.0) * scale;
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{x:.1},{y:.1}");
        last = (x, y);
    }
    let _ = write!(
        out,
        "\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"/></svg>",
        last.0, last.1
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_goes_from_the_oldest_to_the_newest_scaled_from_zero() {
        let mut out = String::new();
        line(&mut out, &[1.0, 2.0, 0.0], "size", "Size");
        assert_eq!(
            out,
            "<svg class=\"chart size\" viewBox=\"0 0 120 32\" width=\"120\" height=\"32\" role=\"img\" aria-label=\"Size\"><title>Size</title><polyline points=\"3.0,16.0 60.0,3.0 117.0,29.0\"/><circle cx=\"117.0\" cy=\"29.0\" r=\"2.5\"/></svg>"
        );
        let mut one = String::new();
        line(&mut one, &[5.0], "size", "Only one backup");
        assert_eq!(one, "<span class=\"nochart\">Only one backup</span>");
        let mut many = String::new();
        line(&mut many, &[1.0; 100], "time", "t");
        assert_eq!(many.matches(',').count(), POINTS, "{many}");
    }
}
