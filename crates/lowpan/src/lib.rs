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
