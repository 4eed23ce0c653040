//! The terminal's settings that clients change over DLMS/COSEM and that must outlive a
//! restart (TRM-08): the Pairing ID, the reading interval, the authentication password
//! and the associations' secrets. "Once changed over the air or by the handy terminal,
//! the stored one wins" over what the command line gave at start.
//!
//! The node reports every change ([`super::node::NodeEvent::SettingsChanged`]); the
//! driver keeps them (owner-only: they hold secrets) and puts them back at start with
//! [`Settings::apply_to`] and [`Settings::restore_secrets`]. The terminal ID is not a
//! setting: it can never be changed (the model refuses its SET).

use dlms::cosem::{Association, IotRouteModel, ModelConfig};

use super::slots::Interval;

/// The settings.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The Pairing ID (CON-03).
    pub pairing_id: String,
    /// The reading interval, s (1800 or 900, TRM-11).
    pub capture_period: u32,
    /// The device authentication password (PANA and the maintenance association).
    pub auth_password: Vec<u8>,
    /// The associations' secrets: public, management, maintenance.
    pub association_secrets: [Vec<u8>; 3],
    /// The meter a client accepted (SEC-07): registered again at start, over the
    /// command line's `--meter-id`. Absent in settings kept before it existed.
    #[serde(default)]
    pub registered_meter: Option<Vec<u8>>,
}

impl core::fmt::Debug for Settings {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Settings")
            .field("pairing_id", &self.pairing_id)
            .field("capture_period", &self.capture_period)
            .field("registered_meter", &self.registered_meter)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The settings `model` holds now.
    #[must_use]
    pub fn of(model: &IotRouteModel) -> Self {
        Self {
            pairing_id: model.pairing_id().to_owned(),
            capture_period: model.capture_period(),
            auth_password: model.auth_password().to_vec(),
            association_secrets: Association::ALL.map(|a| model.association_secret(a).to_vec()),
            registered_meter: None,
        }
    }

    /// Put the kept Pairing ID, interval and password into the model's configuration.
    pub fn apply_to(&self, config: &mut ModelConfig) {
        config.pairing_id.clone_from(&self.pairing_id);
        config.capture_period = self.capture_period;
        config.auth_password.clone_from(&self.auth_password);
    }

    /// The reading interval they hold (`None`: a period the terminal does not read at).
    #[must_use]
    pub const fn interval(&self) -> Option<Interval> {
        Interval::from_seconds(self.capture_period)
    }

    /// Put the kept association secrets back into `model` (after it was built and given
    /// its initial ones: the kept ones win). A secret the model refuses (empty, too long)
    /// is left as it was and logged.
    pub fn restore_secrets(&self, model: &mut IotRouteModel) {
        for (a, secret) in Association::ALL.into_iter().zip(&self.association_secrets) {
            if let Err(e) = model.association_mut().set_initial_secret(a, secret) {
                tracing::warn!(association = ?a, error = ?e, "kept secret not restored");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn trm08_settings_taken_from_one_model_rebuild_the_same_in_another() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap();
        let config = ModelConfig::default();
        let mut changed = IotRouteModel::new(
            &ModelConfig {
                pairing_id: "IOT00777".to_owned(),
                capture_period: 900,
                auth_password: b"NEWPASSWORD1".to_vec(),
                ..config.clone()
            },
            now,
        )
        .unwrap();
        changed
            .association_mut()
            .set_initial_secret(Association::Maintenance, b"HANDYSECRET")
            .unwrap();
        let kept = Settings::of(&changed);
        assert_eq!(kept.interval(), Some(Interval::Quarter));
        let mut rebuilt_config = config;
        kept.apply_to(&mut rebuilt_config);
        let mut rebuilt = IotRouteModel::new(&rebuilt_config, now).unwrap();
        kept.restore_secrets(&mut rebuilt);
        assert_eq!(Settings::of(&rebuilt), kept);
        // Secrets never in Debug.
        let shown = format!("{kept:?}");
        assert!(
            !shown.contains("NEWPASSWORD1") && !shown.contains("78"),
            "{shown}"
        );
    }
}
