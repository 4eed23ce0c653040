//! Link-layer (IEEE 802.15.4) addresses as 6LoWPAN sees them, and the IPv6 link-local
//! addresses derived from them (RFC 4944 §6, RFC 6282 §3.2.2).
//!
//! Our own small type rather than smoltcp's `Ieee802154Address`: that one has an `Absent`
//! variant (never valid for us: 6LoWPAN needs both link addresses to elide the IPv6 ones)
//! and a `from_bytes` that panics on a wrong length. We convert at the smoltcp boundary.

use core::fmt;
use core::net::Ipv6Addr;

use smoltcp::wire::Ieee802154Address;

/// The U/L bit of an EUI-64's first byte, inverted in a modified EUI-64 interface
/// identifier (RFC 4291 appendix A).
const UNIVERSAL_LOCAL_BIT: u8 = 0x02;

/// The interface identifier built from a 16-bit short address: `0000:00ff:fe00:XXXX`
/// (RFC 4944 §6), bytes 8..14 of the IPv6 address.
const SHORT_IID_PREFIX: [u8; 6] = [0, 0, 0, 0xff, 0xfe, 0];

/// The source or destination address of an 802.15.4 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkAddress {
    /// An extended address, the EUI-64 in printed order (most significant byte first; on
    /// the air it goes least significant byte first, which is the MAC codec's business).
    Extended([u8; 8]),
    /// A 16-bit short address as a number (0xffff is the broadcast address).
    Short(u16),
}

impl LinkAddress {
    /// The 802.15.4 broadcast short address, the link destination of a datagram to a
    /// link-local multicast group such as ff02::1.
    pub const BROADCAST: Self = Self::Short(0xffff);

    /// The IPv6 link-local address whose interface identifier is derived from this link
    /// address: fe80::/64 with the modified EUI-64 (U/L bit inverted) or
    /// `::ff:fe00:XXXX` for a short address.
    pub fn link_local(self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets[0] = 0xfe;
        octets[1] = 0x80;
        octets[8..].copy_from_slice(&self.interface_id());
        Ipv6Addr::from(octets)
    }

    /// The 64-bit interface identifier derived from this address.
    pub fn interface_id(self) -> [u8; 8] {
        match self {
            Self::Extended(eui) => {
                let mut iid = eui;
                iid[0] ^= UNIVERSAL_LOCAL_BIT;
                iid
            }
            Self::Short(short) => {
                let mut iid = [0u8; 8];
                iid[..6].copy_from_slice(&SHORT_IID_PREFIX);
                iid[6..].copy_from_slice(&short.to_be_bytes());
                iid
            }
        }
    }

    /// The link address an IPv6 link-local address was derived from, if it was: the
    /// inverse of [`link_local`](Self::link_local). `None` for any address outside
    /// fe80::/64 (the 54 bits after fe80 must be zero).
    pub fn from_link_local(addr: Ipv6Addr) -> Option<Self> {
        let octets = addr.octets();
        if octets[..8] != [0xfe, 0x80, 0, 0, 0, 0, 0, 0] {
            return None;
        }
        if octets[8..14] == SHORT_IID_PREFIX {
            return Some(Self::Short(u16::from_be_bytes([octets[14], octets[15]])));
        }
        let mut eui = [0u8; 8];
        eui.copy_from_slice(&octets[8..]);
        eui[0] ^= UNIVERSAL_LOCAL_BIT;
        Some(Self::Extended(eui))
    }

    /// smoltcp's representation. Its extended addresses hold the printed order too (its
    /// `as_eui_64` inverts the U/L bit of byte 0), short addresses big-endian.
    pub(crate) fn to_smoltcp(self) -> Ieee802154Address {
        match self {
            Self::Extended(eui) => Ieee802154Address::Extended(eui),
            Self::Short(short) => Ieee802154Address::Short(short.to_be_bytes()),
        }
    }
}

impl fmt::Display for LinkAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Extended(e) => write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]
            ),
            Self::Short(s) => write!(f, "0x{s:04x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_link_local_from_eui64_inverts_the_ul_bit() {
        let eui = LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02]);
        let ll = eui.link_local();
        assert_eq!(ll, "fe80::11:2233:4455:2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(LinkAddress::from_link_local(ll), Some(eui));
    }

    #[test]
    fn rad01_link_local_from_short_address() {
        let short = LinkAddress::Short(0x1234);
        let ll = short.link_local();
        assert_eq!(ll, "fe80::ff:fe00:1234".parse::<Ipv6Addr>().unwrap());
        assert_eq!(LinkAddress::from_link_local(ll), Some(short));
    }

    #[test]
    fn rad01_non_link_local_addresses_have_no_link_address() {
        for a in ["fe80:1::1", "ff02::1", "2001:db8::1", "::1"] {
            assert_eq!(
                LinkAddress::from_link_local(a.parse().unwrap()),
                None,
                "{a}"
            );
        }
    }

    #[test]
    fn rad01_smoltcp_agrees_on_the_interface_identifier() {
        let eui = LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01]);
        assert_eq!(eui.to_smoltcp().as_eui_64(), Some(eui.interface_id()));
        assert_eq!(
            eui.to_smoltcp().as_link_local_address(),
            Some(eui.link_local())
        );
        assert_eq!(eui.to_string(), "02:11:22:33:44:55:00:01");
        assert_eq!(LinkAddress::BROADCAST.to_string(), "0xffff");
    }
}
