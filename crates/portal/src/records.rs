//! The operations registers (the utility's duties, guideline 3-2..3-4) as records the
//! operations pages keep: **incidents** (OPS-01 contact, OPS-08 report items),
//! **risks** (OPS-02: assessed at build, at every change and at least yearly, so each has
//! its next review date and is flagged when that date has passed) and **vulnerability
//! notes** (OPS-04: gathered continuously, one that can harm the system reported to the
//! other party).
//!
//! A record is never changed or deleted: an edit is its next version, kept beside the
//! earlier ones with who made it and when, so a report shows how it was told at each
//! step. One rule for every store ([`check_record`]): a new record takes the next
//! number with version 1, an edit the next version of a record that exists. The fields
//! of each register and their checks are below ([`RecordKind::fields`]): **ours**, after
//! the guideline's items (docs/operations.md).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::PortalError;

/// A register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// Incidents (OPS-01, OPS-08).
    Incident,
    /// The risk register (OPS-02).
    Risk,
    /// Vulnerability notes (OPS-04).
    Vulnerability,
}

/// How a field is entered and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// One line, at most 200 characters.
    Line,
    /// Text, at most 4,000 characters.
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// One of these.
    Choice(&'static [&'static str]),
    /// A registered 22-digit supply point (checked by the pages against the registry).
    Point,
}

/// One field of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name (the form's and the store's).
    pub name: &'static str,
    /// What the page calls it.
    pub label: &'static str,
    /// How it is entered.
    pub input: Input,
    /// Whether it must be given.
    pub required: bool,
    /// Whether the register's list shows it.
    pub listed: bool,
}

const fn field(
    name: &'static str,
    label: &'static str,
    input: Input,
    required: bool,
    listed: bool,
) -> Field {
    Field {
        name,
        label,
        input,
        required,
        listed,
    }
}

/// The incident report (OPS-08: what happened and the plan — content, place, impact on
/// each device and system, next steps; cause and countermeasure — cause, fix, plan,
/// recurrence prevention), its kind (OPS-01's three and ours) and the point concerned,
/// whose receiving-point retailer is the contact window.
const INCIDENT: &[Field] = &[
    field("title", "title", Input::Line, true, true),
    field(
        "category",
        "kind",
        Input::Choice(&[
            "security-incident",
            "lost-terminal",
            "leaked-credentials",
            "abnormal-traffic",
            "other",
        ]),
        true,
        true,
    ),
    field("occurred", "occurred on", Input::Date, true, true),
    field(
        "status",
        "status",
        Input::Choice(&["open", "closed"]),
        true,
        true,
    ),
    field("point", "supply point concerned", Input::Point, false, true),
    field("what", "what happened (content)", Input::Text, true, false),
    field("place", "place", Input::Line, true, false),
    field(
        "impact",
        "impact on each device and system",
        Input::Text,
        true,
        false,
    ),
    field("next_steps", "next steps", Input::Text, true, false),
    field("cause", "cause", Input::Text, false, false),
    field("fix", "countermeasure (fix)", Input::Text, false, false),
    field("plan", "plan", Input::Text, false, false),
    field(
        "prevention",
        "recurrence prevention",
        Input::Text,
        false,
        false,
    ),
];

const LEVELS: &[&str] = &["low", "medium", "high"];

/// A risk as assessed (OPS-02): what, the threat, likelihood and impact, the treatment,
/// who owns it, why it was assessed (build, change, periodic), when, and the next review
/// (at most a year after the assessment).
const RISK: &[Field] = &[
    field("title", "title", Input::Line, true, true),
    field("asset", "asset", Input::Line, true, false),
    field("threat", "threat", Input::Text, true, false),
    field(
        "likelihood",
        "likelihood",
        Input::Choice(LEVELS),
        true,
        true,
    ),
    field("impact", "impact", Input::Choice(LEVELS), true, true),
    field("treatment", "treatment", Input::Text, true, false),
    field("owner", "owner", Input::Line, true, true),
    field(
        "trigger",
        "assessed at",
        Input::Choice(&["build", "change", "periodic"]),
        true,
        false,
    ),
    field("assessed", "assessed on", Input::Date, true, true),
    field("next_review", "next review", Input::Date, true, true),
];

/// A vulnerability note (OPS-04): where it was learned, what it affects, how bad, and —
/// when it can harm the system — to whom it was reported and when.
const VULNERABILITY: &[Field] = &[
    field("title", "title", Input::Line, true, true),
    field(
        "reference",
        "reference (CVE, JVN, vendor)",
        Input::Line,
        false,
        true,
    ),
    field("source", "learned from", Input::Line, true, false),
    field("affects", "affects", Input::Line, true, true),
    field(
        "severity",
        "severity",
        Input::Choice(&["low", "medium", "high", "critical"]),
        true,
        true,
    ),
    field(
        "harms_system",
        "can harm the system",
        Input::Choice(&["no", "yes"]),
        true,
        true,
    ),
    field(
        "reported_to",
        "reported to (the other party)",
        Input::Line,
        false,
        true,
    ),
    field("reported_on", "reported on", Input::Date, false, false),
    field(
        "status",
        "status",
        Input::Choice(&["open", "mitigated", "closed"]),
        true,
        true,
    ),
    field("notes", "notes", Input::Text, false, false),
];

impl RecordKind {
    /// Every register.
    pub const ALL: [Self; 3] = [Self::Incident, Self::Risk, Self::Vulnerability];

    /// Its name in the store.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Risk => "risk",
            Self::Vulnerability => "vulnerability",
        }
    }

    /// The register named `name`.
    #[must_use]
    pub fn of(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its pages' path under `/ops/`.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::Incident => "incidents",
            Self::Risk => "risks",
            Self::Vulnerability => "vulnerabilities",
        }
    }

    /// Its pages' title.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::Incident => "Incidents (OPS-01, OPS-08)",
            Self::Risk => "Risk register (OPS-02)",
            Self::Vulnerability => "Vulnerability notes (OPS-04)",
        }
    }

    /// Its fields, in the order the pages show them.
    #[must_use]
    pub const fn fields(self) -> &'static [Field] {
        match self {
            Self::Incident => INCIDENT,
            Self::Risk => RISK,
            Self::Vulnerability => VULNERABILITY,
        }
    }
}

/// One version of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsRecord {
    /// Its register.
    pub kind: RecordKind,
    /// Its number in the register, from 1.
    pub id: u64,
    /// Its version, from 1.
    pub version: u32,
    /// When this version was kept.
    pub at: DateTime<Utc>,
    /// Who kept it.
    pub by: String,
    /// Its fields (those given; a field left empty is absent).
    pub fields: BTreeMap<String, String>,
}

/// Why a form does not make a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A required field is empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field's value is not one it takes.
    #[error("{label}: {why}")]
    Invalid {
        /// The field.
        label: &'static str,
        /// Why.
        why: String,
    },
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The fields of `kind` from a form's `given` (name, value) pairs: trimmed, empty ones
/// left out, each checked; other names are ignored. The register's own rules too: a
/// risk's next review after its assessment and at most a year later (OPS-02), a
/// vulnerability that can harm the system reported — to whom and when (OPS-04).
///
/// # Errors
/// [`RecordError`], naming the first field that fails.
pub fn fields_of(
    kind: RecordKind,
    given: &[(String, String)],
) -> Result<BTreeMap<String, String>, RecordError> {
    let mut out = BTreeMap::new();
    for f in kind.fields() {
        let value = given
            .iter()
            .rev()
            .find(|(n, _)| n == f.name)
            .map_or("", |(_, v)| v.trim());
        if value.is_empty() {
            if f.required {
                return Err(RecordError::Missing(f.label));
            }
            continue;
        }
        let invalid = |why: &str| RecordError::Invalid {
            label: f.label,
            why: why.to_owned(),
        };
        let limit = match f.input {
            Input::Text => 4_000,
            _ => 200,
        };
        if value.chars().count() > limit {
            return Err(invalid(&format!("longer than {limit} characters")));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid("control characters"));
        }
        match f.input {
            Input::Date if date(value).is_none() => return Err(invalid("not a date YYYY-MM-DD")),
            Input::Choice(options) if !options.contains(&value) => {
                return Err(invalid(&format!("one of {}", options.join(", "))))
            }
            Input::Point if value.parse::<mdms::SupplyPoint>().is_err() => {
                return Err(invalid("not a 22-digit supply point"))
            }
            _ => {}
        }
        out.insert(f.name.to_owned(), value.to_owned());
    }
    match kind {
        RecordKind::Risk => {
            let (Some(assessed), Some(next)) = (
                out.get("assessed").and_then(|d| date(d)),
                out.get("next_review").and_then(|d| date(d)),
            ) else {
                return Err(RecordError::Missing("next review"));
            };
            if next <= assessed || next > assessed + chrono::Months::new(12) {
                return Err(RecordError::Invalid {
                    label: "next review",
                    why: "after the assessment and at most a year later (OPS-02)".to_owned(),
                });
            }
        }
        RecordKind::Vulnerability if out.get("harms_system").map(String::as_str) == Some("yes") => {
            for (name, label) in [
                ("reported_to", "reported to"),
                ("reported_on", "reported on"),
            ] {
                if !out.contains_key(name) {
                    return Err(RecordError::Invalid {
                        label,
                        why: "required when it can harm the system (OPS-04)".to_owned(),
                    });
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Whether a risk's next review has passed on `today` (it is overdue).
#[must_use]
pub fn overdue(record: &OpsRecord, today: NaiveDate) -> bool {
    record.kind == RecordKind::Risk
        && record
            .fields
            .get("next_review")
            .and_then(|d| date(d))
            .is_some_and(|next| next < today)
}

/// The latest version of each record of `versions` (every version of a register, in
/// any order), by number.
#[must_use]
pub fn current(versions: &[OpsRecord]) -> Vec<&OpsRecord> {
    let mut latest: BTreeMap<u64, &OpsRecord> = BTreeMap::new();
    for r in versions {
        let keep = latest.get(&r.id).is_none_or(|l| l.version < r.version);
        if keep {
            latest.insert(r.id, r);
        }
    }
    latest.into_values().collect()
}

/// The rule every store applies before it keeps `record`: version 1 under the next
/// number of its register (`last_id`, the highest kept, 0 for none), or the next version
/// (`last_version` of its number, `None` if the number is not kept).
///
/// # Errors
/// [`PortalError::Refused`].
pub fn check_record(
    record: &OpsRecord,
    last_id: u64,
    last_version: Option<u32>,
) -> Result<(), PortalError> {
    let ok = match last_version {
        None => record.version == 1 && record.id == last_id + 1,
        Some(v) => Some(record.version) == v.checked_add(1),
    };
    if ok && !record.by.is_empty() {
        Ok(())
    } else {
        Err(PortalError::Refused(format!(
            "{} {} version {}: not the next (last number {last_id}, its last version {last_version:?})",
            record.kind.name(),
            record.id,
            record.version
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn risk(assessed: &str, next: &str) -> Vec<(String, String)> {
        form(&[
            ("title", "radio jamming"),
            ("asset", "IoT route"),
            ("threat", "a jammer near the meter"),
            ("likelihood", "low"),
            ("impact", "medium"),
            ("treatment", "backfill from the terminal's store"),
            ("owner", "network operations"),
            ("trigger", "build"),
            ("assessed", assessed),
            ("next_review", next),
        ])
    }

    #[test]
    fn ops02_a_risk_is_reviewed_after_its_assessment_and_within_a_year() {
        assert!(fields_of(RecordKind::Risk, &risk("2026-04-01", "2027-04-01")).is_ok());
        for next in ["2026-04-01", "2026-03-31", "2027-04-02", "2027-13-01"] {
            assert!(
                fields_of(RecordKind::Risk, &risk("2026-04-01", next)).is_err(),
                "{next}"
            );
        }
    }

    #[test]
    fn ops02_a_risk_past_its_review_date_is_overdue_and_no_other_record_is() {
        let mut r = OpsRecord {
            kind: RecordKind::Risk,
            id: 1,
            version: 1,
            at: Utc::now(),
            by: "sato".to_owned(),
            fields: fields_of(RecordKind::Risk, &risk("2026-01-10", "2026-07-10")).unwrap(),
        };
        let day = |s| date(s).unwrap();
        assert!(!overdue(&r, day("2026-07-10")));
        assert!(overdue(&r, day("2026-07-11")));
        r.kind = RecordKind::Incident;
        assert!(!overdue(&r, day("2026-07-11")));
    }

    #[test]
    fn ops04_a_vulnerability_that_can_harm_the_system_is_reported_to_the_other_party() {
        let base = [
            ("title", "CCM* nonce reuse in vendor X's stack"),
            ("source", "JVN"),
            ("affects", "wireless terminal"),
            ("severity", "high"),
            ("status", "open"),
        ];
        let mut no = form(&base);
        no.extend(form(&[("harms_system", "no")]));
        assert!(fields_of(RecordKind::Vulnerability, &no).is_ok());
        let mut yes = form(&base);
        yes.extend(form(&[("harms_system", "yes")]));
        assert!(matches!(
            fields_of(RecordKind::Vulnerability, &yes),
            Err(RecordError::Invalid {
                label: "reported to",
                ..
            })
        ));
        yes.extend(form(&[
            ("reported_to", "retailer A0019"),
            ("reported_on", "2026-05-02"),
        ]));
        assert!(fields_of(RecordKind::Vulnerability, &yes).is_ok());
    }

    #[test]
    fn ops08_an_incident_needs_the_report_items_and_checks_each_field() {
        let good = form(&[
            ("title", "terminal lost"),
            ("category", "lost-terminal"),
            ("occurred", "2026-05-01"),
            ("status", "open"),
            ("point", "0900000000000000100003"),
            ("what", "the user reports the terminal stolen"),
            ("place", "customer premises"),
            (
                "impact",
                "no readings from the point; no other device affected",
            ),
            (
                "next_steps",
                "block the point (OPS-07), contact the retailer",
            ),
        ]);
        let f = fields_of(RecordKind::Incident, &good).unwrap();
        assert_eq!(f["point"], "0900000000000000100003");
        assert!(!f.contains_key("cause"), "empty fields are left out");
        for (name, bad) in [
            ("what", ""),
            ("category", "burglary"),
            ("occurred", "May 1st"),
            ("point", "12345"),
            ("title", &"x".repeat(201)),
            ("title", "a\u{0}b"),
        ] {
            let mut f = good.clone();
            f.push((name.to_owned(), bad.to_owned()));
            assert!(
                fields_of(RecordKind::Incident, &f).is_err(),
                "{name}={bad:?}"
            );
        }
    }

    #[test]
    fn ops_a_record_takes_the_next_number_and_an_edit_the_next_version() {
        let r = |id, version| OpsRecord {
            kind: RecordKind::Incident,
            id,
            version,
            at: Utc::now(),
            by: "sato".to_owned(),
            fields: BTreeMap::new(),
        };
        assert!(check_record(&r(1, 1), 0, None).is_ok());
        assert!(check_record(&r(3, 1), 2, None).is_ok());
        assert!(check_record(&r(2, 1), 2, None).is_err(), "a number taken");
        assert!(
            check_record(&r(4, 2), 3, None).is_err(),
            "an edit of nothing"
        );
        assert!(check_record(&r(2, 2), 3, Some(1)).is_ok());
        assert!(
            check_record(&r(2, 2), 3, Some(2)).is_err(),
            "a version taken"
        );
        assert!(
            check_record(&r(2, 4), 3, Some(2)).is_err(),
            "a version skipped"
        );
        let versions = [r(1, 1), r(2, 1), r(1, 2)];
        let now: Vec<(u64, u32)> = current(&versions)
            .iter()
            .map(|r| (r.id, r.version))
            .collect();
        assert_eq!(now, [(1, 2), (2, 1)]);
    }
}
