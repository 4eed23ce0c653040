//! `iotroute portal`'s publication beside its server: a thread that, every `--publish-every`,
//! publishes what [`portal::rounds::Watch`] says is due from the MDMS in the same
//! database to each registered point's retailer (the head end's registry), so that a
//! portal running beside a live head end (`iotroute headend serve`) has each slot's
//! files within a minute of its close and a late value re-issued within the recheck.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use edi::PartyCode;
use headend::storage::HeadendStore as _;
use portal::rounds::{self, Due, Watch};
use portal::{Publisher, SqlitePortalStore};

/// How the publication runs.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// The database.
    pub db: PathBuf,
    /// The sender code of the files.
    pub sender: PartyCode,
    /// How often it looks.
    pub every: Duration,
    /// How far back a recheck reaches, and how often.
    pub lookback: TimeDelta,
    /// How often.
    pub recheck: TimeDelta,
}

/// Start the publication; it stops when `stop` is set (looked at every 100 ms).
///
/// # Errors
/// A store that does not open.
pub fn start(
    config: PublishConfig,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let db = &config.db;
    let store = SqlitePortalStore::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let mdms =
        mdms::SqliteStore::open(db).map_err(|e| format!("{}: the MDMS: {e}", db.display()))?;
    let registry = headend::sqlite::SqliteHeadendStore::open(db)
        .map_err(|e| format!("{}: the registry: {e}", db.display()))?;
    let mut publisher = Publisher::new(config.sender, store);
    let mut watch = Watch::new(config.lookback, config.recheck);
    std::thread::Builder::new()
        .name("publication".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let tick = Instant::now();
                let now = Utc::now();
                let due = watch.due(now);
                if !due.is_empty() {
                    match registry.points() {
                        Ok(points) => {
                            let retailer_of: BTreeMap<String, PartyCode> = points
                                .into_iter()
                                .map(|p| (p.supply_point.to_string(), p.retailer.code()))
                                .collect();
                            round(&mut publisher, &mdms, &due, &retailer_of, now);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "publication: the registry unreadable")
                        }
                    }
                }
                while !stop.load(Ordering::Relaxed) && tick.elapsed() < config.every {
                    std::thread::sleep(Duration::from_millis(100).min(config.every));
                }
            }
        })
        .map_err(|e| e.to_string())
}

fn round(
    publisher: &mut Publisher<SqlitePortalStore>,
    mdms: &mdms::SqliteStore,
    due: &[Due],
    retailer_of: &BTreeMap<String, PartyCode>,
    now: chrono::DateTime<Utc>,
) {
    let mut issued = Vec::new();
    for d in due {
        let result = match d {
            Due::Slot(start) => {
                rounds::publish_slot(publisher, mdms, *start, retailer_of, now).map(|(p, _)| p)
            }
            Due::Day(day) => rounds::publish_day(
                publisher,
                mdms,
                *day,
                &rounds::day_boundaries(*day),
                retailer_of,
                now,
                &mut |_, _| {},
            ),
        };
        match result {
            Ok(p) => issued.extend(p),
            Err(e) => tracing::error!(error = %e, due = ?d, "publication failed"),
        }
    }
    if !issued.is_empty() {
        let files: usize = issued.iter().map(|p| p.files.len()).sum();
        tracing::info!(
            issues = issued.len(),
            files,
            rounds = due.len(),
            "published"
        );
    }
}
