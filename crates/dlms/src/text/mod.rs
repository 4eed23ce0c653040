//! Text for people and scripts: COSEM values in JSON and command-line words, unit and
//! result names, exact decimals.

mod names;
mod values;

pub use names::{decimal, result_name, scaler_unit, unit_name};
pub use values::{from_typed, jst, parse_time, parse_value, plain, self_typed, typed, ValueError};
