//! IPv6 over the IoT route (Wi-SUN Enhanced HAN, RAD-01): 6LoWPAN header compression
//! (RFC 6282: IPHC, NHC UDP), fragmentation and reassembly (RFC 4944 §5.3), IPv6
//! link-local addresses from the link addresses, UDP and ICMPv6 echo, `no_std` + `alloc`.
//!
//! smoltcp's wire types do the bit-level work (`SixlowpanIphcRepr`, `SixlowpanUdpNhcRepr`,
//! `SixlowpanFragRepr`, `Ipv6Repr`, `UdpRepr`, `Icmpv6Repr`); this crate is the glue the
//! IoT route needs around them: which compression to use, fragment sizes for a MAC
//! payload budget, datagram tags, a reassembler with limits and a timeout, typed errors,
//! and fixes where smoltcp disagrees with the RFCs (see `iphc`). It sits between
//! `wisun` (802.15.4 frames + CCM*, which hands us the MAC payload and link addresses)
//! and the UDP users (DLMS/COSEM on 4059, PANA on 716). Sans-IO: callers pass the time
//! (`core::time::Duration` since their epoch) and the bytes. Our choices are written in
//! `docs/iot-route-link.md` ("6LoWPAN, IPv6 and UDP").
//!
//! ```
//! use core::time::Duration;
//! use lowpan::{Encoder, LinkAddress, Packet, Reassembler, UdpDatagram};
//!
//! let terminal = LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02]);
//! let meter = LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01]);
//! let apdu = Packet::Udp(UdpDatagram::link_local(terminal, meter, 4059, 4059, vec![0; 500]));
//!
//! // 104 bytes of MAC payload: a 127-byte unsecured frame with extended addresses.
//! let fragments = Encoder::new(0x1234).encode(&apdu, terminal, meter, 104)?;
//! assert_eq!(fragments.len(), 6);
//!
//! let mut reassembler = Reassembler::default();
//! let mut delivered = None;
//! for fragment in fragments.iter().rev() {
//!     delivered = reassembler.receive(Duration::from_secs(1), terminal, meter, fragment)?;
//! }
//! assert_eq!(delivered, Some(apdu));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

mod datagram;
mod error;
mod fragment;
mod iphc;
mod link;
mod reassembly;

pub use datagram::{Echo, EchoKind, Packet, UdpDatagram, HOP_LIMIT, IPV6_MIN_MTU};
pub use error::{DecodeError, EncodeError, ReceiveError};
pub use fragment::{Encoder, FRAG1_HEADER_LEN, FRAGN_HEADER_LEN};
pub use link::LinkAddress;
pub use reassembly::{Config, Counters, Reassembler};
