//! The measurement line above the tracing, as on an ECG cart's printout: rate, PR, QRS,
//! QT/QTc, axes and the rhythm statement (`measure::text::measurement_line`), measured from
//! the figure's delineation with the default settings and the input's QTc formula.

use crate::figure::FigureError;
use crate::figure::layout::LayoutDescription;
use crate::figure::palette;
use crate::figure::scene::{FigureInput, Primitive, TextAnchor};
use crate::measure::{MeasureParams, Measurements, measure};

/// Font size of the line (mm).
const LINE_MM: f64 = 2.6;
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
        out.push(Primitive::Text {
            pos: (layout.title.x, layout.title.y + LINE_Y_MM),
            text: crate::measure::text::measurement_line(&m),
            size_mm: LINE_MM,
            colour: palette::INK,
            anchor: TextAnchor::Start,
            bold: true,
        });
    }
    Ok(())
}
