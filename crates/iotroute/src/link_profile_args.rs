//! The command-line side of the link profile (`nodes::link::profile`): what is not public
//! about the IoT route and ours by default, settable by a deployment. A terminal and the
//! smart meters it joins must be given the same values.

use nodes::link::profile::LinkProfile;
use wisun::mac::Oui;
use wisun::pairing_id::PairingIeFormat;

/// `--pairing-oui` and `--vendor-id`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileArgs {
    /// OUI of the Pairing ID vendor Header IE in the scan frames, 6 hex digits (ours by
    /// default: the guideline does not publish it).
    #[arg(long, value_name = "HEX", default_value = "123456", value_parser = parse_oui)]
    pub pairing_oui: Oui,
    /// Vendor-Id of the PANA vendor AVPs carrying the group key and the key request (ours
    /// by default: 32473, reserved for documentation by RFC 5612).
    #[arg(long, value_name = "N", default_value_t = pana::encr::VENDOR_ID)]
    pub vendor_id: u32,
}

impl ProfileArgs {
    /// The profile: these values, our PSK derivation (salted SHA-256).
    #[must_use]
    pub fn profile(&self) -> LinkProfile {
        let defaults = LinkProfile::default();
        LinkProfile {
            pairing_format: PairingIeFormat {
                oui: self.pairing_oui,
                ..defaults.pairing_format
            },
            vendor_id: self.vendor_id,
            ..defaults
        }
    }
}

fn parse_oui(s: &str) -> Result<Oui, String> {
    let digits: String = s.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    if digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{s:?}: an OUI is 6 hex digits (e.g. 12-34-56)"));
    }
    u32::from_str_radix(&digits, 16)
        .map(Oui)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn con04_the_pairing_oui_is_six_hex_digits() {
        assert_eq!(parse_oui("12-34-56"), Ok(Oui(0x12_34_56)));
        assert_eq!(parse_oui("abcdef"), Ok(Oui(0xAB_CD_EF)));
        for bad in ["12345", "1234567", "12-34-5g", ""] {
            assert!(parse_oui(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn con04_the_default_profile_is_ours() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            profile: ProfileArgs,
        }
        let p = Cli::try_parse_from(["x"]).unwrap().profile.profile();
        let ours = LinkProfile::default();
        assert_eq!(p.pairing_format, ours.pairing_format);
        assert_eq!(p.vendor_id, ours.vendor_id);
        let p = Cli::try_parse_from(["x", "--pairing-oui", "ab:cd:ef", "--vendor-id", "4"])
            .unwrap()
            .profile
            .profile();
        assert_eq!(p.pairing_format.oui, Oui(0xAB_CD_EF));
        assert_eq!(p.vendor_id, 4);
    }
}
