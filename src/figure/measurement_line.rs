//! The measurement line above the tracing, as on an ECG cart's printout: rate, PR, QRS,
//! QT/QTc, axes and the rhythm statement (`measure::text::measurement_line`), measured from
//! the figure's delineation with the default settings and the input's QTc formula.

use crate::figure::FigureError;
use crate::figure::layout::LayoutDescription;
use crate::figure::palette;
use crate::figure::scene::{FigureInput, Primitive, TextAnchor, text_width_mm};
use crate::measure::{MeasureParams, Measurements, measure};

/// Font size of the line (mm), and the smallest it is set at to fit the page's width.
const LINE_MM: f64 = 2.6;
const MIN_LINE_MM: f64 = 1.8;
/// Baseline of the line below the top of the title band (mm): the third line of the band.
const LINE_Y_MM: f64 = 13.6;

/// The figure's measurements, when it has a delineation.
pub fn figure_measurements(input: &FigureInput) -> Result<Option<Measurements>, FigureError> {
    input
        .delineation
        .map(|d| {
            let params = MeasureParams {
                qtc_formula: input.qtc_formula,
                ..MeasureParams::default()
            };
            measure(input.ecg, d, &params)
        })
        .transpose()
        .map_err(FigureError::from)
}

/// Add the measurement line to `out` (nothing without a delineation).
pub fn measurement_line(
    input: &FigureInput,
    layout: &LayoutDescription,
    out: &mut Vec<Primitive>,
) -> Result<(), FigureError> {
    if let Some(m) = figure_measurements(input)? {
        let text = crate::measure::text::measurement_line(&m);
        // a long line (a rhythm statement with its exceptions, a narrow window) is set smaller
        // rather than run past the page: never below a size a printout can still be read at
        let size_mm = (LINE_MM * layout.title.w / text_width_mm(&text, LINE_MM, true))
            .clamp(MIN_LINE_MM, LINE_MM);
        out.push(Primitive::Text {
            pos: (layout.title.x, layout.title.y + LINE_Y_MM),
            text,
            size_mm,
            colour: palette::INK,
            anchor: TextAnchor::Start,
            bold: true,
        });
    }
    Ok(())
}
