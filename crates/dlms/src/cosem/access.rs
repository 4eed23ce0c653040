//! Associations and the access rights each has to each object.
//!
//! Three associations (one per client wPort/SAP), each with its own view of the model:
//!
//! | association | client wPort | who | sees |
//! |---|---|---|---|
//! | [`Association::Public`] | 16 (0x10) | anyone, no security | clock, logical device name, IDs, association, SAP list — never energy or profiles |
//! | [`Association::Management`] | 1 | the smart meter (電力SM) | everything it reads and sets |
//! | [`Association::Maintenance`] | 32 (0x20, **ours**) | the handy terminal (ハンディターミナル) of the user business | stored data (TRM-06), settings (TRM-08), firmware (SEC-10) |
//!
//! An object a table does not list for an association is not *visible* in it: it is
//! missing from that association's `object_list` and any request for it is answered
//! `object-undefined`, as for an object that does not exist. A visible object whose
//! attribute or method the association may not use is answered `read-write-denied`.
//! This table is a ceiling: the maintenance association may take objects out of its own
//! `object_list` and put them back (Association LN methods 3 and 4), never add one the
//! table does not list for it, and the rights are always the table's.

use super::codes::{
    ACCESS_CLIENT, ACCESS_CODE, ACCESS_LOG, ASSOCIATION, AUTH_PASSWORD, CLOCK, ENERGY_AC_INPUT,
    ENERGY_AC_OUTPUT, EVENT_CODE, EVENT_LOG, IMAGE_TRANSFER, LOAD_PROFILE, LOGICAL_DEVICE_NAME,
    MANAGEMENT_INVOCATION_COUNTER, METER_ID, PAIRING_ID, PROFILE_STATUS, PUSH_SETUP,
    SAP_ASSIGNMENT, SECURITY_SETUP, TERMINAL_ID,
};
use super::Obis;
use dlms_cosem_rs::cosem::{AttributeAccess, MethodAccess};

/// Which association (which client) is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Association {
    /// Client wPort 16: the public client, no security.
    Public,
    /// Client wPort 1: the management client, the smart meter.
    Management,
    /// Client wPort 32: the maintenance client, the handy terminal (ours).
    Maintenance,
}

impl Association {
    /// Every association, in the order their secrets are kept.
    pub const ALL: [Self; 3] = [Self::Public, Self::Management, Self::Maintenance];

    /// The client SAP (the wrapper's source wPort) this association answers.
    #[must_use]
    pub const fn client_sap(self) -> u16 {
        match self {
            Self::Public => 16,
            Self::Management => 1,
            Self::Maintenance => 32,
        }
    }

    /// The association a client wPort belongs to; `None` for a wPort we do not serve
    /// (the driver drops those without answering).
    #[must_use]
    pub const fn from_client_sap(sap: u16) -> Option<Self> {
        match sap {
            16 => Some(Self::Public),
            1 => Some(Self::Management),
            32 => Some(Self::Maintenance),
            _ => None,
        }
    }

    /// Position in [`Association::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Self::Public => 0,
            Self::Management => 1,
            Self::Maintenance => 2,
        }
    }
}

/// An attribute's access mode, the Association LN version 1 `access_mode` enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessMode {
    /// 0: no access.
    NoAccess,
    /// 1: read only.
    Read,
    /// 2: write only.
    Write,
    /// 3: read and write.
    ReadWrite,
}

impl AccessMode {
    /// The enumeration value in `object_list`.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::NoAccess => 0,
            Self::Read => 1,
            Self::Write => 2,
            Self::ReadWrite => 3,
        }
    }

    /// May be read.
    #[must_use]
    pub const fn can_read(self) -> bool {
        matches!(self, Self::Read | Self::ReadWrite)
    }

    /// May be written.
    #[must_use]
    pub const fn can_write(self) -> bool {
        matches!(self, Self::Write | Self::ReadWrite)
    }

    /// As the upstream engine's flags.
    #[must_use]
    pub fn to_flags(self) -> AttributeAccess {
        match self {
            Self::NoAccess => AttributeAccess::empty(),
            Self::Read => AttributeAccess::READ,
            Self::Write => AttributeAccess::WRITE,
            Self::ReadWrite => AttributeAccess::READ | AttributeAccess::WRITE,
        }
    }
}

/// Method flags for the upstream engine.
#[must_use]
pub fn method_flags(allowed: bool) -> MethodAccess {
    if allowed {
        MethodAccess::ACCESS
    } else {
        MethodAccess::empty()
    }
}

use AccessMode::{NoAccess, Read, ReadWrite, Write};
use Association::{Maintenance, Management, Public};

/// True when `ln` is visible in `association` (listed in its `object_list`).
#[must_use]
pub fn visible(association: Association, ln: Obis) -> bool {
    match association {
        // Public: clock, logical device name, the two IDs, and what a client needs to
        // discover the device (its association and SAP list) and to open a ciphered
        // management association without stored state (the management client's
        // invocation counter, as IDIS meters serve it). Never energy, profiles,
        // settings or security setup.
        Public => [
            CLOCK,
            LOGICAL_DEVICE_NAME,
            TERMINAL_ID,
            METER_ID,
            ASSOCIATION,
            SAP_ASSIGNMENT,
            MANAGEMENT_INVOCATION_COUNTER,
        ]
        .contains(&ln),
        Management | Maintenance => [
            CLOCK,
            LOGICAL_DEVICE_NAME,
            TERMINAL_ID,
            METER_ID,
            ENERGY_AC_INPUT,
            ENERGY_AC_OUTPUT,
            PROFILE_STATUS,
            LOAD_PROFILE,
            EVENT_CODE,
            EVENT_LOG,
            ACCESS_CODE,
            ACCESS_CLIENT,
            ACCESS_LOG,
            PAIRING_ID,
            AUTH_PASSWORD,
            PUSH_SETUP,
            IMAGE_TRANSFER,
            ASSOCIATION,
            SAP_ASSIGNMENT,
            SECURITY_SETUP,
            MANAGEMENT_INVOCATION_COUNTER,
        ]
        .contains(&ln),
    }
}

/// The access mode of attribute `attribute` of `ln` in `association`. Attribute 1
/// (`logical_name`) is readable wherever the object is visible; anything not listed
/// here is [`AccessMode::NoAccess`].
#[must_use]
pub fn attribute(association: Association, ln: Obis, attribute: i8) -> AccessMode {
    if !visible(association, ln) {
        return NoAccess;
    }
    if attribute == 1 {
        return Read;
    }
    let writer = matches!(association, Management | Maintenance);
    match ln {
        // Clock: read by everyone; time, time zone and daylight-saving settings written
        // by the two authenticated clients (TRM-09 clock synchronisation). Status (4)
        // and clock base (9) are the device's own.
        CLOCK => match attribute {
            2 | 3 | 5..=8 if writer => ReadWrite,
            2..=9 => Read,
            _ => NoAccess,
        },
        // Identifiers never change over the air: the terminal ID is the immutable
        // authentication ID (TRM-08), the meter ID is read from the meter (SEC-07).
        // The management client's invocation counter is the server's record of what it
        // accepted: only the server moves it.
        // The meter ID: written only to accept the meter connected now (SEC-07; the
        // model takes no other value).
        METER_ID => match attribute {
            2 if writer => ReadWrite,
            2 => Read,
            _ => NoAccess,
        },
        LOGICAL_DEVICE_NAME
        | TERMINAL_ID
        | PROFILE_STATUS
        | EVENT_CODE
        | ACCESS_CODE
        | ACCESS_CLIENT
        | MANAGEMENT_INVOCATION_COUNTER => match attribute {
            2 => Read,
            _ => NoAccess,
        },
        // Energy registers: read only; nobody resets a counter a bill is computed from.
        ENERGY_AC_INPUT | ENERGY_AC_OUTPUT => match attribute {
            2 | 3 => Read,
            _ => NoAccess,
        },
        // Load profile: the capture period is the reading interval (TRM-08, TRM-11).
        LOAD_PROFILE => match attribute {
            4 => ReadWrite,
            2..=8 => Read,
            _ => NoAccess,
        },
        EVENT_LOG | ACCESS_LOG => match attribute {
            2..=8 => Read,
            _ => NoAccess,
        },
        // Pairing ID: changeable from the SM system and the handy terminal (TRM-08).
        PAIRING_ID => match attribute {
            2 => ReadWrite,
            _ => NoAccess,
        },
        // The device authentication password: changeable (TRM-08), never readable.
        AUTH_PASSWORD => match attribute {
            2 => Write,
            _ => NoAccess,
        },
        // Push setup: the smart meter configures its slot pushes; the handy terminal
        // only looks.
        PUSH_SETUP => match (association, attribute) {
            (Management, 2..=7) => ReadWrite,
            (_, 2..=7) => Read,
            _ => NoAccess,
        },
        // Image transfer: the user business updates the firmware (SEC-10, OPS-09: the
        // terminal is the user business's); the methods are the maintenance client's and
        // the smart meter's, which may carry the user business's image (see `method`),
        // but only the maintenance client may disable the transfer.
        IMAGE_TRANSFER => match (association, attribute) {
            (Maintenance, 5) => ReadWrite,
            (_, 2..=7) => Read,
            _ => NoAccess,
        },
        // Association LN: the secret (7) is written, never read.
        ASSOCIATION => match (association, attribute) {
            (Management | Maintenance, 7) => Write,
            (_, 2..=6 | 8 | 9) => Read,
            _ => NoAccess,
        },
        SAP_ASSIGNMENT => match attribute {
            2 => Read,
            _ => NoAccess,
        },
        SECURITY_SETUP => match attribute {
            2..=5 => Read,
            _ => NoAccess,
        },
        _ => NoAccess,
    }
}

/// Whether `association` may invoke method `method` of `ln`.
#[must_use]
pub fn method(association: Association, ln: Obis, method: i8) -> bool {
    if !visible(association, ln) {
        return false;
    }
    match (association, ln, method) {
        // Clock adjustments (adjust_to_quarter ... shift_time).
        (Management | Maintenance, CLOCK, 1..=6) => true,
        // Push on demand.
        (Management, PUSH_SETUP, 1) => true,
        // Firmware update by the user business (SEC-10): from its handy terminal, or
        // carried by the utility's smart meter (the head end relays the user business's
        // image). The terminal checks the user business's signature and its own policy
        // whichever way the image came, so the carrier is trusted with nothing but bytes.
        (Management | Maintenance, IMAGE_TRANSFER, 1..=4) => true,
        // change_HLS_secret of one's own association.
        (Management | Maintenance, ASSOCIATION, 2) => true,
        // add_object/remove_object on one's own object_list, within this table (ours:
        // the user business's handy terminal may narrow its own view; the smart meter's
        // view is the utility's and the public one is fixed).
        (Maintenance, ASSOCIATION, 3 | 4) => true,
        // security_activate and global_key_transfer: the utility manages the keys of
        // the IoT route's DLMS layer.
        (Management, SECURITY_SETUP, 1 | 2) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_never_sees_energy_profiles_settings_or_security() {
        for ln in [
            ENERGY_AC_INPUT,
            ENERGY_AC_OUTPUT,
            LOAD_PROFILE,
            EVENT_LOG,
            ACCESS_LOG,
            PAIRING_ID,
            AUTH_PASSWORD,
            PUSH_SETUP,
            IMAGE_TRANSFER,
            SECURITY_SETUP,
        ] {
            assert!(!visible(Public, ln), "{ln}");
            for a in 1..=9 {
                assert_eq!(attribute(Public, ln, a), NoAccess);
            }
        }
    }

    #[test]
    fn trm08_secrets_are_never_readable_and_ids_never_writable() {
        for a in Association::ALL {
            assert!(!attribute(a, AUTH_PASSWORD, 2).can_read());
            assert!(!attribute(a, ASSOCIATION, 7).can_read());
            assert!(!attribute(a, TERMINAL_ID, 2).can_write());
            assert!(!attribute(a, ENERGY_AC_INPUT, 2).can_write());
        }
        // The meter ID is written only to accept the connected meter (SEC-07; the model
        // takes no other value), and never by the public client.
        assert!(!attribute(Public, METER_ID, 2).can_write());
        assert_eq!(attribute(Maintenance, METER_ID, 2), ReadWrite);
        assert_eq!(attribute(Management, AUTH_PASSWORD, 2), Write);
        assert_eq!(attribute(Maintenance, PAIRING_ID, 2), ReadWrite);
    }

    #[test]
    fn client_saps() {
        for a in Association::ALL {
            assert_eq!(Association::from_client_sap(a.client_sap()), Some(a));
        }
        assert_eq!(Association::from_client_sap(0x30), None);
    }
}
