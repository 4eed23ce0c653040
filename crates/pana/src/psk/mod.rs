//! EAP-PSK (RFC 4764, EAP type 47): the four messages, the key hierarchy
//! (PSK → AK, KDK → TEK, MSK, EMSK), MAC_P / MAC_S by AES-CMAC, the AES-EAX protected
//! channel, and the PSK from a terminal's authentication ID and password.
//!
//! Checked against hostapd's `eap_psk_common.c` / `eap_server_psk.c` (the reference
//! implementation) and, numerically, against Python's `cryptography` (known-answer tests).

mod crypto;
mod message;
mod password;

pub use crypto::{
    key_setup, mac_p, mac_s, verify_mac_p, verify_mac_s, PChannelPlain, PskExt, ResultFlag,
    SessionKeys,
};
pub use message::{PChannel, PskMessage, RAND_LEN};
pub use password::{identity_from_eui64, PskDerivation, SaltedSha256};
