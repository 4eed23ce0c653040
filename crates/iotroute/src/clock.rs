//! The wall clock the drivers feed to the sans-IO nodes, optionally running faster.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A clock that starts at `origin` and runs `speed` times faster than real time, so that
/// a demo sees a day of 30-minute readings in minutes.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    origin: DateTime<Utc>,
    started: Instant,
    speed: f64,
}

impl ScaledClock {
    pub fn new(origin: DateTime<Utc>, speed: f64) -> ScaledClock {
        ScaledClock {
            origin,
            started: Instant::now(),
            speed,
        }
    }

    /// The (scaled) time now.
    pub fn now(&self) -> DateTime<Utc> {
        let real = self.started.elapsed().as_secs_f64();
        #[allow(clippy::cast_possible_truncation)]
        let ms = (real * self.speed * 1000.0) as i64;
        self.origin + Duration::milliseconds(ms)
    }

    /// Real time until the scaled clock reaches `at` (zero if it has).
    pub fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let scaled_ms = (at - self.now()).num_milliseconds().max(0);
        #[allow(clippy::cast_precision_loss)]
        let real_s = scaled_ms as f64 / 1000.0 / self.speed;
        std::time::Duration::from_secs_f64(real_s)
    }
}

/// Parses a `--speed` factor: a finite number from 0.001 to 1,000,000.
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && (0.001..=1_000_000.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("speed must be between 0.001 and 1000000, not {s}"))
    }
}
