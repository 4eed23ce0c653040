//! The identifier parsers on any text: never a panic, a value only for well-formed text,
//! and every value printed back to text that parses to itself.

use mdms::{IdError, SupplyPoint, TerminalId};
use proptest::prelude::*;

proptest! {
    #[test]
    fn supply_point_text_parses_only_when_22_digits_of_a_known_area(s in "\\PC{0,30}") {
        match s.parse::<SupplyPoint>() {
            Ok(p) => {
                prop_assert_eq!(p.as_str(), s.as_str());
                prop_assert!((1..=10).contains(&p.area()));
            }
            Err(IdError::SupplyPointLength(_) | IdError::SupplyPointDigit(_) | IdError::AreaCode(_)) => {}
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn every_supply_point_round_trips(area in 1u8..=10, rest in "[0-9]{20}") {
        let text = format!("{area:02}{rest}");
        let p: SupplyPoint = text.parse().unwrap();
        prop_assert_eq!(p.area(), area);
        prop_assert_eq!(p.to_string().parse::<SupplyPoint>().unwrap(), p);
    }

    #[test]
    fn terminal_id_text_never_panics_and_every_id_round_trips(s in "\\PC{0,40}", bytes in any::<[u8; 8]>()) {
        if let Ok(t) = s.parse::<TerminalId>() {
            prop_assert_eq!(t.to_string().parse::<TerminalId>().unwrap(), t);
        }
        let t = TerminalId(bytes);
        prop_assert_eq!(t.to_string().len(), 16);
        prop_assert_eq!(t.to_string().parse::<TerminalId>().unwrap(), t);
        prop_assert_eq!(t.to_string().to_lowercase().parse::<TerminalId>().unwrap(), t);
    }
}
