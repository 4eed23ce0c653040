//! The terminal's LED (TRM-10): "a normal connection to the SM system can be seen on the
//! terminal". One pattern per state; the node derives the state from the link, the meter
//! and the terminal's own condition, and reports every change (logged, SEC-09).
//!
//! The guideline asks for a visible indication, not for colours or rates: the patterns
//! below are ours, chosen so that the three a user must tell apart at a glance
//! (connected, not connected, fault) differ in colour as well as in rhythm.

/// Where the IoT route is, as far as the LED cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkView {
    /// The terminal runs without the IoT route (no `--air`): no connection to show.
    Absent,
    /// Looking for a smart meter.
    Scanning,
    /// Authenticating to one.
    Authenticating,
    /// Linked.
    Connected,
}

impl LinkView {
    /// The view of the link's phase.
    #[must_use]
    pub const fn of(phase: &crate::link::terminal::LinkPhase) -> Self {
        use crate::link::terminal::LinkPhase;
        match phase {
            LinkPhase::Scanning => Self::Scanning,
            LinkPhase::Authenticating(_) => Self::Authenticating,
            LinkPhase::Connected(_) => Self::Connected,
        }
    }
}

/// The LED's states, highest priority first in [`Led::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    /// No connection to the SM system to show (no IoT route configured).
    Off,
    /// Scanning for a smart meter.
    Scanning,
    /// Authenticating to a smart meter.
    Authenticating,
    /// Linked to the smart meter and reading the meter: the normal state.
    Connected,
    /// The meter did not answer at the last slot (its row is missing).
    MeterError,
    /// The terminal cannot keep readings (its store failed).
    Error,
    /// A firmware image is being received or activated.
    Updating,
}

/// What the LED shows: the inputs [`Led::of`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedInputs {
    /// The IoT route.
    pub link: LinkView,
    /// Whether the meter answered at the last slot read (`true` before any).
    pub meter_ok: bool,
    /// A firmware update under way.
    pub updating: bool,
    /// A fault that stops the terminal keeping readings.
    pub error: bool,
}

impl Led {
    /// The state to show: a fault first, then an update, then the meter, then the link.
    #[must_use]
    pub const fn of(inputs: LedInputs) -> Self {
        if inputs.error {
            return Self::Error;
        }
        if inputs.updating {
            return Self::Updating;
        }
        if !inputs.meter_ok {
            return Self::MeterError;
        }
        match inputs.link {
            LinkView::Absent => Self::Off,
            LinkView::Scanning => Self::Scanning,
            LinkView::Authenticating => Self::Authenticating,
            LinkView::Connected => Self::Connected,
        }
    }

    /// The state's name (`status --json`, the event log).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Scanning => "scanning",
            Self::Authenticating => "authenticating",
            Self::Connected => "connected",
            Self::MeterError => "meter_error",
            Self::Error => "error",
            Self::Updating => "updating",
        }
    }

    /// The pattern the LED shows (ours).
    #[must_use]
    pub const fn pattern(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Scanning => "green, blinking 1 Hz",
            Self::Authenticating => "green, blinking 4 Hz",
            Self::Connected => "green, steady",
            Self::MeterError => "orange, blinking 1 Hz",
            Self::Error => "red, steady",
            Self::Updating => "orange, blinking 4 Hz",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Led; 7] = [
        Led::Off,
        Led::Scanning,
        Led::Authenticating,
        Led::Connected,
        Led::MeterError,
        Led::Error,
        Led::Updating,
    ];

    #[test]
    fn trm10_every_state_has_its_own_pattern_and_name() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.pattern(), b.pattern());
                assert_ne!(a.name(), b.name());
            }
        }
    }

    #[test]
    fn trm10_connected_only_when_linked_with_the_meter_answering_and_nothing_wrong() {
        let ok = LedInputs {
            link: LinkView::Connected,
            meter_ok: true,
            updating: false,
            error: false,
        };
        assert_eq!(Led::of(ok), Led::Connected);
        let not = |i: LedInputs| Led::of(i);
        assert_eq!(
            not(LedInputs {
                meter_ok: false,
                ..ok
            }),
            Led::MeterError
        );
        assert_eq!(
            not(LedInputs {
                updating: true,
                meter_ok: false,
                ..ok
            }),
            Led::Updating
        );
        assert_eq!(
            not(LedInputs {
                error: true,
                updating: true,
                ..ok
            }),
            Led::Error
        );
        for (link, led) in [
            (LinkView::Absent, Led::Off),
            (LinkView::Scanning, Led::Scanning),
            (LinkView::Authenticating, Led::Authenticating),
        ] {
            assert_eq!(not(LedInputs { link, ..ok }), led);
        }
    }
}
