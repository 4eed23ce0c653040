//! The retailer's side of the portal, sans-IO: which listed files to fetch (the highest
//! update of each message and split not held yet), and the latest value of each device
//! point and slot across every message held, as the per-day CSV a spreadsheet opens.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use edi::message::{jst, kwh};
use edi::{FileName, Message, Record, SupplyPoint};

/// The header of a day's CSV.
pub const CSV_HEADER: &str = "supply_point,slot_start,in_kwh,out_kwh,quality,update";

/// The files of `listed` to fetch when `held` are held: of each message (information
/// code, time) and split, the highest update listed, unless that or a higher one is held.
#[must_use]
pub fn to_fetch(listed: &[FileName], held: &BTreeSet<FileName>) -> Vec<FileName> {
    let mut newest: BTreeMap<_, FileName> = BTreeMap::new();
    for n in listed {
        let key = (n.info(), n.at(), n.split());
        if newest.get(&key).is_none_or(|m| m.update() < n.update()) {
            newest.insert(key, *n);
        }
    }
    newest
        .into_values()
        .filter(|n| {
            !held.iter().any(|h| {
                (h.info(), h.at(), h.split()) == (n.info(), n.at(), n.split())
                    && h.update() >= n.update()
            })
        })
        .collect()
}

/// The latest value of each device point and slot: from the message made last (its
/// header's time), a daily message over a slot message made at the same second, a
/// higher update over a lower.
#[derive(Debug, Default)]
pub struct Latest {
    slots: BTreeMap<(SupplyPoint, DateTime<Utc>), Held>,
}

/// A record held, with what ranks it: its message's time, whether daily, its update.
#[derive(Debug)]
struct Held {
    rank: (DateTime<Utc>, bool, u8),
    record: Record,
}

impl Latest {
    /// Take the records of `message`, issued under `update`.
    pub fn add(&mut self, message: &Message, update: u8) {
        let rank = (message.created, message.info.is_daily(), update);
        for r in &message.records {
            let key = (r.point, r.slot_start);
            if self.slots.get(&key).is_none_or(|h| h.rank <= rank) {
                self.slots.insert(
                    key,
                    Held {
                        rank,
                        record: r.clone(),
                    },
                );
            }
        }
    }

    /// The CSV of each day (Japan time) held: rows by point, then slot.
    #[must_use]
    pub fn csv_by_day(&self) -> BTreeMap<NaiveDate, String> {
        let mut days: BTreeMap<NaiveDate, String> = BTreeMap::new();
        for Held {
            rank: (_, _, update),
            record: r,
        } in self.slots.values()
        {
            let text = days
                .entry(r.local_start().date())
                .or_insert_with(|| format!("{CSV_HEADER}\n"));
            text.push_str(&format!(
                "{},{},{},{},{},{update:02}\n",
                r.point,
                jst(r.slot_start),
                kwh(r.in_wh),
                kwh(r.out_wh),
                r.quality.as_str()
            ));
        }
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<FileName> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn if01_only_the_newest_issue_not_held_is_fetched() {
        let listed = names(&[
            "W41130202604011330000000.zip",
            "W41130202604011330010000.zip",
            "W41130202604011330010001.zip",
            "W41130202604011400000000.zip",
            "W41140202604010000000000.zip",
        ]);
        let none = BTreeSet::new();
        assert_eq!(
            to_fetch(&listed, &none),
            names(&[
                "W41130202604011330010000.zip",
                "W41130202604011330010001.zip",
                "W41130202604011400000000.zip",
                "W41140202604010000000000.zip",
            ])
        );
        let held: BTreeSet<_> = to_fetch(&listed, &none).into_iter().collect();
        assert!(
            to_fetch(&listed, &held).is_empty(),
            "a second run fetches nothing"
        );
        let mut later = listed.clone();
        later.extend(names(&["W41130202604011400010000.zip"]));
        assert_eq!(
            to_fetch(&later, &held),
            names(&["W41130202604011400010000.zip"])
        );
    }
}
