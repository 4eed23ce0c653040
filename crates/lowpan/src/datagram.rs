//! The datagrams that cross the IoT route (RAD-01): UDP (DLMS/COSEM on 4059, PANA on 716,
//! ECHONET Lite on 3610) and ICMPv6 echo, to and from their uncompressed IPv6 form.
//!
//! The uncompressed form is the pivot of the crate: the encoder compresses its headers,
//! fragment offsets count in it (RFC 4944 §5.3), and the reassembler rebuilds it before
//! checking the UDP or ICMPv6 checksum with smoltcp's own code.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
    IPV6_HEADER_LEN, UDP_HEADER_LEN,
};

use crate::error::DecodeError;
use crate::link::LinkAddress;

/// The hop limit we send: 255, which IPHC compresses to two bits and which tells a
/// receiver the datagram was not routed (the IoT route is one hop, as RFC 4861 uses it).
pub const HOP_LIMIT: u8 = 255;

/// The IPv6 minimum MTU (RFC 8200 §5), the datagram size 6LoWPAN must carry (RFC 4944
/// §4) and the most our encoder sends.
pub const IPV6_MIN_MTU: usize = 1280;

/// A UDP datagram with its IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit.
    pub hop_limit: u8,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP payload.
    pub payload: Vec<u8>,
}

impl UdpDatagram {
    /// A datagram between the link-local addresses derived from two link addresses, with
    /// hop limit 255: what the IoT route carries.
    pub fn link_local(
        src: LinkAddress,
        dst: LinkAddress,
        src_port: u16,
        dst_port: u16,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            src: src.link_local(),
            dst: dst.link_local(),
            hop_limit: HOP_LIMIT,
            src_port,
            dst_port,
            payload,
        }
    }
}

/// Whether an ICMPv6 echo is a request or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoKind {
    /// Echo request (type 128).
    Request,
    /// Echo reply (type 129).
    Reply,
}

/// An ICMPv6 echo request or reply (RFC 4443 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit.
    pub hop_limit: u8,
    /// Request or reply.
    pub kind: EchoKind,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq_no: u16,
    /// Data.
    pub data: Vec<u8>,
}

impl Echo {
    /// The reply to this request: addresses swapped (a request to a multicast group is
    /// answered from `own`, the replier's unicast address), same identifier, sequence
    /// number and data.
    pub fn reply(&self, own: Ipv6Addr) -> Self {
        Self {
            src: own,
            dst: self.src,
            hop_limit: HOP_LIMIT,
            kind: EchoKind::Reply,
            ident: self.ident,
            seq_no: self.seq_no,
            data: self.data.clone(),
        }
    }
}

/// What the IoT route's IPv6 layer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A UDP datagram.
    Udp(UdpDatagram),
    /// An ICMPv6 echo request or reply.
    Echo(Echo),
}

impl Packet {
    /// IPv6 source address.
    pub fn src(&self) -> Ipv6Addr {
        match self {
            Self::Udp(u) => u.src,
            Self::Echo(e) => e.src,
        }
    }

    /// IPv6 destination address.
    pub fn dst(&self) -> Ipv6Addr {
        match self {
            Self::Udp(u) => u.dst,
            Self::Echo(e) => e.dst,
        }
    }

    fn hop_limit(&self) -> u8 {
        match self {
            Self::Udp(u) => u.hop_limit,
            Self::Echo(e) => e.hop_limit,
        }
    }

    /// The IPv6 next header: UDP or ICMPv6.
    pub(crate) fn protocol(&self) -> IpProtocol {
        match self {
            Self::Udp(_) => IpProtocol::Udp,
            Self::Echo(_) => IpProtocol::Icmpv6,
        }
    }

    /// The length of the uncompressed IPv6 datagram.
    pub fn ipv6_len(&self) -> usize {
        IPV6_HEADER_LEN
            + match self {
                Self::Udp(u) => UDP_HEADER_LEN + u.payload.len(),
                Self::Echo(e) => echo_repr(e).buffer_len(),
            }
    }

    /// The uncompressed IPv6 datagram with the UDP or ICMPv6 checksum filled in by
    /// smoltcp (a computed UDP checksum of 0 goes out as 0xffff, RFC 8200 §8.1).
    pub fn to_ipv6(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.ipv6_len()];
        let payload_len = buf.len() - IPV6_HEADER_LEN;
        let ip = Ipv6Repr {
            src_addr: self.src(),
            dst_addr: self.dst(),
            next_header: self.protocol(),
            payload_len,
            hop_limit: self.hop_limit(),
        };
        let mut ip_packet = Ipv6Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut ip_packet);
        let body = ip_packet.payload_mut();
        let caps = ChecksumCapabilities::default();
        match self {
            Self::Udp(u) => {
                let repr = UdpRepr {
                    src_port: u.src_port,
                    dst_port: u.dst_port,
                };
                repr.emit(
                    &mut UdpPacket::new_unchecked(body),
                    &IpAddress::Ipv6(u.src),
                    &IpAddress::Ipv6(u.dst),
                    u.payload.len(),
                    |p| p.copy_from_slice(&u.payload),
                    &caps,
                );
            }
            Self::Echo(e) => {
                echo_repr(e).emit(
                    &e.src,
                    &e.dst,
                    &mut Icmpv6Packet::new_unchecked(body),
                    &caps,
                );
            }
        }
        buf
    }

    /// Parse an uncompressed IPv6 datagram (exactly one, no trailing bytes) carrying UDP
    /// or an ICMPv6 echo, checking the checksum.
    pub fn from_ipv6(bytes: &[u8]) -> Result<Self, DecodeError> {
        let ip_packet = Ipv6Packet::new_checked(bytes).map_err(|_| DecodeError::Ipv6)?;
        let ip = Ipv6Repr::parse(&ip_packet).map_err(|_| DecodeError::Ipv6)?;
        if IPV6_HEADER_LEN + ip.payload_len != bytes.len() {
            return Err(DecodeError::Ipv6);
        }
        let body = ip_packet.payload();
        match ip.next_header {
            IpProtocol::Udp => parse_udp(&ip, body).map(Self::Udp),
            IpProtocol::Icmpv6 => parse_echo(&ip, body).map(Self::Echo),
            other => Err(DecodeError::NextHeader(u8::from(other))),
        }
    }
}

fn echo_repr(e: &Echo) -> Icmpv6Repr<'_> {
    match e.kind {
        EchoKind::Request => Icmpv6Repr::EchoRequest {
            ident: e.ident,
            seq_no: e.seq_no,
            data: &e.data,
        },
        EchoKind::Reply => Icmpv6Repr::EchoReply {
            ident: e.ident,
            seq_no: e.seq_no,
            data: &e.data,
        },
    }
}

fn parse_udp(ip: &Ipv6Repr, body: &[u8]) -> Result<UdpDatagram, DecodeError> {
    let udp = UdpPacket::new_checked(body).map_err(|_| DecodeError::Udp)?;
    if usize::from(udp.len()) != body.len() {
        return Err(DecodeError::Udp);
    }
    // smoltcp accepts a zero checksum (IPv4's "no checksum"); over IPv6 it is illegal.
    let checksum = udp.checksum();
    if checksum == 0
        || !udp.verify_checksum(&IpAddress::Ipv6(ip.src_addr), &IpAddress::Ipv6(ip.dst_addr))
    {
        return Err(DecodeError::UdpChecksum(checksum));
    }
    Ok(UdpDatagram {
        src: ip.src_addr,
        dst: ip.dst_addr,
        hop_limit: ip.hop_limit,
        src_port: udp.src_port(),
        dst_port: udp.dst_port(),
        payload: udp.payload().to_vec(),
    })
}

fn parse_echo(ip: &Ipv6Repr, body: &[u8]) -> Result<Echo, DecodeError> {
    let icmp = Icmpv6Packet::new_checked(body).map_err(|_| DecodeError::Icmpv6)?;
    if !icmp.verify_checksum(&ip.src_addr, &ip.dst_addr) {
        return Err(DecodeError::Icmpv6Checksum(icmp.checksum()));
    }
    let repr = Icmpv6Repr::parse(
        &ip.src_addr,
        &ip.dst_addr,
        &icmp,
        &ChecksumCapabilities::ignored(),
    )
    .map_err(|_| DecodeError::Icmpv6)?;
    let (kind, ident, seq_no, data) = match repr {
        Icmpv6Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } => (EchoKind::Request, ident, seq_no, data),
        Icmpv6Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => (EchoKind::Reply, ident, seq_no, data),
        _ => return Err(DecodeError::Icmpv6Type(u8::from(icmp.msg_type()))),
    };
    Ok(Echo {
        src: ip.src_addr,
        dst: ip.dst_addr,
        hop_limit: ip.hop_limit,
        kind,
        ident,
        seq_no,
        data: data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERM: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
    const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);

    #[test]
    fn rad01_udp_round_trips_through_ipv6() {
        let p = Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            4059,
            4059,
            vec![1, 2, 3],
        ));
        let bytes = p.to_ipv6();
        assert_eq!(bytes.len(), 40 + 8 + 3);
        assert_eq!(Packet::from_ipv6(&bytes), Ok(p));
    }

    #[test]
    fn rad01_udp_bad_and_zero_checksums_are_refused() {
        let p = Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            4059,
            4059,
            vec![1, 2, 3],
        ));
        let mut bytes = p.to_ipv6();
        bytes[50] ^= 0x01;
        assert!(matches!(
            Packet::from_ipv6(&bytes),
            Err(DecodeError::UdpChecksum(_))
        ));
        bytes[46] = 0;
        bytes[47] = 0;
        assert_eq!(Packet::from_ipv6(&bytes), Err(DecodeError::UdpChecksum(0)));
    }

    #[test]
    fn rad01_echo_request_and_reply_round_trip() {
        let req = Echo {
            src: TERM.link_local(),
            dst: METER.link_local(),
            hop_limit: HOP_LIMIT,
            kind: EchoKind::Request,
            ident: 0x1234,
            seq_no: 7,
            data: b"ping".to_vec(),
        };
        let rep = req.reply(METER.link_local());
        for e in [req, rep] {
            let p = Packet::Echo(e);
            let mut bytes = p.to_ipv6();
            assert_eq!(Packet::from_ipv6(&bytes), Ok(p));
            bytes[44] ^= 0x80;
            assert!(matches!(
                Packet::from_ipv6(&bytes),
                Err(DecodeError::Icmpv6Checksum(_))
            ));
        }
    }

    #[test]
    fn rad01_other_next_headers_and_trailing_bytes_are_refused() {
        let p = Packet::Udp(UdpDatagram::link_local(TERM, METER, 1, 2, vec![]));
        let mut bytes = p.to_ipv6();
        bytes[6] = 6; // TCP
        assert_eq!(Packet::from_ipv6(&bytes), Err(DecodeError::NextHeader(6)));
        let mut long = p.to_ipv6();
        long.push(0);
        assert_eq!(Packet::from_ipv6(&long), Err(DecodeError::Ipv6));
    }
}
