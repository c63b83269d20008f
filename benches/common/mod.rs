//! Setup shared by the delineation and measurement benches.

use tlc_explorer::synth::{SynthParams, SyntheticRecord, generate_record};

/// The synthetic 10 s 12-lead 500 Hz record both benches time (the default synthetic settings,
/// record 0), so their figures speak of the same signal.
pub fn synthetic_record() -> SyntheticRecord {
    let params = SynthParams {
        n_records: 1,
        ..Default::default()
    };
    match generate_record(&params, 0) {
        Ok(r) => r,
        Err(e) => panic!("synthetic record: {e}"),
    }
}
