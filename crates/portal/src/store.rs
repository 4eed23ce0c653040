//! Where issues and their files are kept, behind a trait: [`MemoryPortalStore`] here
//! (tests), [`crate::SqlitePortalStore`] the embedded default. Every store applies the
//! same rules inside its write ([`check_issue`]): an issue is the next update number of
//! its message, and a file is never replaced (older issues stay listed).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use edi::{FileName, InfoCode, PartyCode};

use crate::error::PortalError;
use crate::publish::Issue;
use crate::records::{check_record, OpsRecord, RecordKind};
use crate::users::User;

/// A published file as a retailer's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name.
    pub name: FileName,
    /// The ZIP's size, bytes.
    pub size: u64,
    /// When it was published.
    pub updated: DateTime<Utc>,
}

/// One request to the portal, as the audit keeps it (OPS-06: who, what, when, result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the retailer code its certificate names, `-` without one.
    pub who: String,
    /// The certificate's serial, if one was presented.
    pub serial: Option<String>,
    /// What: the method, the path and the file asked for (at most 200 characters).
    pub what: String,
    /// The HTTP status answered.
    pub result: u16,
}

/// How long the portal keeps an audit entry, days **(ours)**: more than a year, so a
/// yearly review (OPS-06) sees every request since the last one.
pub const AUDIT_KEPT_DAYS: u32 = 400;

/// The portal's storage.
pub trait PortalStore {
    /// The update number and digest of the last issue of `retailer`'s `info` message at
    /// `at`, if any.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn last_issue(
        &self,
        retailer: &PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
    ) -> Result<Option<(u8, [u8; 32])>, PortalError>;

    /// Keep `issue` and its files, all or nothing.
    ///
    /// # Errors
    /// [`PortalError::Refused`] as [`check_issue`]; [`PortalError::Store`].
    fn put_issue(&mut self, issue: &Issue) -> Result<(), PortalError>;

    /// `retailer`'s files, by name.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn files(&self, retailer: &PartyCode) -> Result<Vec<Listed>, PortalError>;

    /// The ZIP named `name` of `retailer`; `None` when `retailer` has none of that name
    /// (whether or not another retailer has).
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn file(&self, retailer: &PartyCode, name: &FileName) -> Result<Option<Vec<u8>>, PortalError>;

    /// Keep `entry` in the audit (append-only).
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), PortalError>;

    /// The audit, oldest first: all of it, or its `latest` entries.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn audit(&self, latest: Option<usize>) -> Result<Vec<AuditEntry>, PortalError>;

    /// Remove the audit entries past their retention ([`AUDIT_KEPT_DAYS`]) at `now`:
    /// how many.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn prune_audit(&mut self, now: DateTime<Utc>) -> Result<u64, PortalError>;

    /// Keep a new user.
    ///
    /// # Errors
    /// [`PortalError::Refused`]: a user of that name exists; [`PortalError::Store`].
    fn add_user(&mut self, user: &User) -> Result<(), PortalError>;

    /// Every user, by name.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn users(&self) -> Result<Vec<User>, PortalError>;

    /// The user named `name`, if any.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn user(&self, name: &str) -> Result<Option<User>, PortalError>;

    /// Keep `record`: a new one under the next number of its register, or the next
    /// version of one kept ([`crate::records::check_record`]).
    ///
    /// # Errors
    /// [`PortalError::Refused`]: not the next number or version; [`PortalError::Store`].
    fn add_record(&mut self, record: &OpsRecord) -> Result<(), PortalError>;

    /// Every version of every record of `kind`, by number then version.
    ///
    /// # Errors
    /// [`PortalError::Store`].
    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError>;
}

/// A store behind a box is a store (a service holds `Box<dyn PortalStore>`).
impl<T: PortalStore + ?Sized> PortalStore for Box<T> {
    fn last_issue(
        &self,
        retailer: &PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
    ) -> Result<Option<(u8, [u8; 32])>, PortalError> {
        (**self).last_issue(retailer, info, at)
    }

    fn put_issue(&mut self, issue: &Issue) -> Result<(), PortalError> {
        (**self).put_issue(issue)
    }

    fn files(&self, retailer: &PartyCode) -> Result<Vec<Listed>, PortalError> {
        (**self).files(retailer)
    }

    fn file(&self, retailer: &PartyCode, name: &FileName) -> Result<Option<Vec<u8>>, PortalError> {
        (**self).file(retailer, name)
    }

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), PortalError> {
        (**self).record_audit(entry)
    }

    fn audit(&self, latest: Option<usize>) -> Result<Vec<AuditEntry>, PortalError> {
        (**self).audit(latest)
    }

    fn prune_audit(&mut self, now: DateTime<Utc>) -> Result<u64, PortalError> {
        (**self).prune_audit(now)
    }

    fn add_user(&mut self, user: &User) -> Result<(), PortalError> {
        (**self).add_user(user)
    }

    fn users(&self) -> Result<Vec<User>, PortalError> {
        (**self).users()
    }

    fn user(&self, name: &str) -> Result<Option<User>, PortalError> {
        (**self).user(name)
    }

    fn add_record(&mut self, record: &OpsRecord) -> Result<(), PortalError> {
        (**self).add_record(record)
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError> {
        (**self).records(kind)
    }
}

/// The rules of an issue, given the last issue of its message and whether a file of
/// the same retailer and name is kept already.
///
/// # Errors
/// [`PortalError::Refused`]: not the next update number (0 for the first), a file of
/// another message, time or update number, or one whose name is taken.
pub fn check_issue(
    issue: &Issue,
    last: Option<u8>,
    taken: impl Fn(&FileName) -> bool,
) -> Result<(), PortalError> {
    let next = last.map_or(Some(0), |u| u.checked_add(1));
    if next != Some(issue.update) {
        return Err(PortalError::Refused(format!(
            "{} {} of {}: update {:02} after {last:?}",
            issue.retailer, issue.info, issue.at, issue.update
        )));
    }
    for f in &issue.files {
        if (f.name.info(), f.name.at(), f.name.update()) != (issue.info, issue.at, issue.update) {
            return Err(PortalError::Refused(format!(
                "{} is not of the issue",
                f.name
            )));
        }
        if taken(&f.name) {
            return Err(PortalError::Refused(format!(
                "{} of {} is published already",
                f.name, issue.retailer
            )));
        }
    }
    Ok(())
}

/// Issues and files in memory.
#[derive(Debug, Default)]
pub struct MemoryPortalStore {
    issues: BTreeMap<(PartyCode, InfoCode, NaiveDateTime), (u8, [u8; 32])>,
    files: BTreeMap<(PartyCode, FileName), (Vec<u8>, DateTime<Utc>)>,
    audit: Vec<AuditEntry>,
    users: BTreeMap<String, User>,
    records: BTreeMap<RecordKind, Vec<OpsRecord>>,
}

impl PortalStore for MemoryPortalStore {
    fn last_issue(
        &self,
        retailer: &PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
    ) -> Result<Option<(u8, [u8; 32])>, PortalError> {
        Ok(self.issues.get(&(*retailer, info, at)).copied())
    }

    fn put_issue(&mut self, issue: &Issue) -> Result<(), PortalError> {
        let key = (issue.retailer, issue.info, issue.at);
        check_issue(issue, self.issues.get(&key).map(|i| i.0), |name| {
            self.files.contains_key(&(issue.retailer, *name))
        })?;
        self.issues.insert(key, (issue.update, issue.digest));
        for f in &issue.files {
            self.files
                .insert((issue.retailer, f.name), (f.zip.clone(), issue.created));
        }
        Ok(())
    }

    fn files(&self, retailer: &PartyCode) -> Result<Vec<Listed>, PortalError> {
        Ok(self
            .files
            .iter()
            .filter(|((r, _), _)| r == retailer)
            .map(|((_, name), (zip, updated))| Listed {
                name: *name,
                size: zip.len() as u64,
                updated: *updated,
            })
            .collect())
    }

    fn file(&self, retailer: &PartyCode, name: &FileName) -> Result<Option<Vec<u8>>, PortalError> {
        Ok(self.files.get(&(*retailer, *name)).map(|f| f.0.clone()))
    }

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), PortalError> {
        self.audit.push(entry.clone());
        Ok(())
    }

    fn audit(&self, latest: Option<usize>) -> Result<Vec<AuditEntry>, PortalError> {
        let skip = latest.map_or(0, |n| self.audit.len().saturating_sub(n));
        Ok(self.audit[skip..].to_vec())
    }

    fn prune_audit(&mut self, now: DateTime<Utc>) -> Result<u64, PortalError> {
        let kept = now - chrono::TimeDelta::days(i64::from(AUDIT_KEPT_DAYS));
        let before = self.audit.len();
        self.audit.retain(|e| e.at >= kept);
        Ok((before - self.audit.len()) as u64)
    }

    fn add_user(&mut self, user: &User) -> Result<(), PortalError> {
        if self.users.contains_key(&user.name) {
            return Err(PortalError::Refused(format!("user {} exists", user.name)));
        }
        self.users.insert(user.name.clone(), user.clone());
        Ok(())
    }

    fn users(&self) -> Result<Vec<User>, PortalError> {
        Ok(self.users.values().cloned().collect())
    }

    fn user(&self, name: &str) -> Result<Option<User>, PortalError> {
        Ok(self.users.get(name).cloned())
    }

    fn add_record(&mut self, record: &OpsRecord) -> Result<(), PortalError> {
        let kept = self.records.entry(record.kind).or_default();
        // Kept ordered by number then version: the last is of the highest number.
        let last_id = kept.last().map_or(0, |r| r.id);
        let last_version = kept
            .iter()
            .filter(|r| r.id == record.id)
            .map(|r| r.version)
            .max();
        check_record(record, last_id, last_version)?;
        kept.push(record.clone());
        kept.sort_by_key(|r| (r.id, r.version));
        Ok(())
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError> {
        Ok(self.records.get(&kind).cloned().unwrap_or_default())
    }
}
