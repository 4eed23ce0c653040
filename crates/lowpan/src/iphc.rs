//! Header compression (RFC 6282): IPHC for the IPv6 header, LOWPAN_NHC for UDP, with
//! smoltcp's `SixlowpanIphcRepr`/`SixlowpanUdpNhcRepr` doing the work and our fix-ups
//! where smoltcp 0.12 (and 0.14, same code) disagrees with the RFC:
//!
//! - NHC UDP ports P=11 (both ports 0xF0B0..0xF0BF): smoltcp emits `(s << 4) & d`
//!   instead of `(s << 4) | d` and reads the destination as `0xF0B0 + byte`; P=01 (only
//!   the destination 0xF0xx) reads the destination from the source port's first byte.
//!   We rewrite the byte on emit and read P=01/P=11 ourselves.
//! - The NHC checksum: smoltcp's NHC emit writes a computed 0 as 0, which RFC 8200 §8.1
//!   forbids; we copy the checksum of the uncompressed UDP header instead (smoltcp's
//!   `UdpPacket::fill_checksum`, which sends 0xffff), and check it on the rebuilt
//!   datagram, never in the NHC parser.
//! - IPHC multicast destinations that fit none of the short forms: smoltcp writes the 16
//!   inline bytes but sets DAM=11 (the 8-bit form); we set DAM=00.
//!
//! No contexts (SAC/DAC=0): the IoT route carries link-local traffic only, and smoltcp's
//! compressor never uses contexts anyway. Traffic class and flow label are always elided
//! (TF=11) on emit; on receive inline ones are skipped and the rebuilt header carries 0:
//! nothing on the IoT route sets them, our packet types do not carry them, and smoltcp's
//! TF accessors are wrong too (ECN unshifted, flow label cut to 16 bits).

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpProtocol, Ipv6Packet, Ipv6Repr, SixlowpanIphcPacket, SixlowpanIphcRepr, SixlowpanNextHeader,
    SixlowpanNhcPacket, SixlowpanUdpNhcPacket, SixlowpanUdpNhcRepr, UdpPacket, UdpRepr,
    IPV6_HEADER_LEN, UDP_HEADER_LEN,
};

use crate::datagram::Packet;
use crate::error::DecodeError;
use crate::link::LinkAddress;

/// NHC UDP port-compression field: both ports 0xF0Bx, 4 bits each.
const PORTS_4_4: u8 = 0b11;
/// NHC UDP port-compression field: source inline, destination 0xF0xx.
const PORTS_16_8: u8 = 0b01;
/// Offset of the UDP checksum in an IPv6 + UDP header.
const UDP_CHECKSUM_AT: usize = IPV6_HEADER_LEN + 6;

/// A datagram split at the end of its headers, ready for fragmentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compressed {
    /// IPHC (+ NHC UDP) header bytes.
    pub header: Vec<u8>,
    /// How many bytes of the uncompressed datagram the compressed header stands for
    /// (40 for IPv6 with an inline next header, 48 with NHC UDP).
    pub covers: usize,
    /// The uncompressed datagram (its bytes from `covers` on follow the header as is).
    pub ipv6: Vec<u8>,
}

/// Compress `packet` sent from `src` to `dst` on the link.
pub(crate) fn compress(packet: &Packet, src: LinkAddress, dst: LinkAddress) -> Compressed {
    let ipv6 = packet.to_ipv6();
    let udp = matches!(packet, Packet::Udp(_));
    let iphc = SixlowpanIphcRepr {
        src_addr: packet.src(),
        ll_src_addr: Some(src.to_smoltcp()),
        dst_addr: packet.dst(),
        ll_dst_addr: Some(dst.to_smoltcp()),
        next_header: if udp {
            SixlowpanNextHeader::Compressed
        } else {
            SixlowpanNextHeader::Uncompressed(packet.protocol())
        },
        hop_limit: ipv6[7],
        ecn: None,
        dscp: None,
        flow_label: None,
    };
    let mut header = vec![0u8; iphc.buffer_len()];
    iphc.emit(&mut SixlowpanIphcPacket::new_unchecked(&mut header[..]));
    fix_inline_multicast(&mut header, packet);
    if !udp {
        return Compressed {
            header,
            covers: IPV6_HEADER_LEN,
            ipv6,
        };
    }
    let ports = UdpPacket::new_unchecked(&ipv6[IPV6_HEADER_LEN..]);
    let nhc = SixlowpanUdpNhcRepr(UdpRepr {
        src_port: ports.src_port(),
        dst_port: ports.dst_port(),
    });
    let at = header.len();
    header.resize(at + nhc.header_len(), 0);
    // Checksum capabilities "ignored": smoltcp leaves C=0 and the two checksum bytes to
    // us, and we copy them from the uncompressed header below.
    nhc.emit(
        &mut SixlowpanUdpNhcPacket::new_unchecked(&mut header[at..]),
        &packet.src(),
        &packet.dst(),
        0,
        |_| {},
        &ChecksumCapabilities::ignored(),
    );
    if header[at] & 0b11 == PORTS_4_4 {
        let (s, d) = (ports.src_port() & 0xf, ports.dst_port() & 0xf);
        header[at + 1] = ((s as u8) << 4) | d as u8;
    }
    let end = header.len();
    header[end - 2..].copy_from_slice(&ipv6[UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2]);
    Compressed {
        header,
        covers: IPV6_HEADER_LEN + UDP_HEADER_LEN,
        ipv6,
    }
}

/// Multicast destinations none of the compressed forms fit go inline with DAM=00.
fn fix_inline_multicast(header: &mut [u8], packet: &Packet) {
    let dst = packet.dst().octets();
    let short_form =
        (dst[1] == 0x02 && dst[2..15] == [0; 13]) || dst[2..13] == [0; 11] || dst[2..11] == [0; 9];
    if dst[0] == 0xff && !short_form {
        header[1] &= !0b11;
    }
}

/// Decompressed headers of a 6LoWPAN packet or first fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decompressed {
    /// The uncompressed IPv6 header, and the UDP header when NHC UDP was used.
    pub header: Vec<u8>,
    /// How many bytes of the input the compressed headers took.
    pub consumed: usize,
}

/// Decompress the IPHC (+ NHC UDP) headers at the start of `bytes` received from `src`
/// for `dst`. `datagram_size` is the uncompressed size from a FRAG1 header, or `None`
/// for an unfragmented packet (the rest of `bytes` is then the rest of the datagram).
pub(crate) fn decompress(
    bytes: &[u8],
    src: LinkAddress,
    dst: LinkAddress,
    datagram_size: Option<usize>,
) -> Result<Decompressed, DecodeError> {
    let packet = SixlowpanIphcPacket::new_checked(bytes).map_err(|_| DecodeError::Iphc)?;
    let iphc =
        SixlowpanIphcRepr::parse(&packet, Some(src.to_smoltcp()), Some(dst.to_smoltcp()), &[])
            .map_err(|_| DecodeError::Iphc)?;
    let mut consumed = packet.header_len();
    let rest = &bytes[consumed..];
    let (next_header, udp_ports) = match iphc.next_header {
        SixlowpanNextHeader::Uncompressed(protocol) => (protocol, None),
        SixlowpanNextHeader::Compressed => {
            let (ports, len) = nhc_udp(rest)?;
            consumed += len;
            (IpProtocol::Udp, Some(ports))
        }
    };
    let covers = IPV6_HEADER_LEN + udp_ports.map_or(0, |_| UDP_HEADER_LEN);
    let size = datagram_size.unwrap_or(covers + bytes.len() - consumed);
    if size < covers {
        return Err(DecodeError::HeaderBeyondSize {
            header: covers,
            size,
        });
    }
    let payload_len = size - IPV6_HEADER_LEN;
    let udp_len = u16::try_from(payload_len).map_err(|_| DecodeError::TooLarge {
        size,
        max: usize::from(u16::MAX),
    })?;
    let mut header = vec![0u8; covers];
    Ipv6Repr {
        src_addr: iphc.src_addr,
        dst_addr: iphc.dst_addr,
        next_header,
        payload_len,
        hop_limit: iphc.hop_limit,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut header[..]));
    if let Some((src_port, dst_port, checksum)) = udp_ports {
        let mut udp = UdpPacket::new_unchecked(&mut header[IPV6_HEADER_LEN..]);
        udp.set_src_port(src_port);
        udp.set_dst_port(dst_port);
        udp.set_len(udp_len);
        udp.set_checksum(checksum);
    }
    Ok(Decompressed { header, consumed })
}

/// Parse NHC UDP at the start of `bytes`: (source port, destination port, checksum) and
/// the NHC header length.
fn nhc_udp(bytes: &[u8]) -> Result<((u16, u16, u16), usize), DecodeError> {
    match SixlowpanNhcPacket::dispatch(bytes) {
        Ok(SixlowpanNhcPacket::UdpHeader) => {}
        Ok(SixlowpanNhcPacket::ExtHeader) => return Err(DecodeError::ExtensionHeader),
        Err(_) => return Err(DecodeError::Nhc),
    }
    let nhc = SixlowpanUdpNhcPacket::new_checked(bytes).map_err(|_| DecodeError::Nhc)?;
    let repr = SixlowpanUdpNhcRepr::parse(
        &nhc,
        &core::net::Ipv6Addr::UNSPECIFIED,
        &core::net::Ipv6Addr::UNSPECIFIED,
        &ChecksumCapabilities::ignored(),
    )
    .map_err(|_| DecodeError::Nhc)?;
    let checksum = nhc.checksum().ok_or(DecodeError::ChecksumElided)?;
    let ports = match bytes[0] & 0b11 {
        PORTS_4_4 => (
            0xf0b0 | u16::from(bytes[1] >> 4),
            0xf0b0 | u16::from(bytes[1] & 0xf),
        ),
        PORTS_16_8 => (repr.src_port, 0xf000 | u16::from(bytes[3])),
        _ => (repr.src_port, repr.dst_port),
    };
    let len = bytes.len() - nhc.payload().len();
    Ok(((ports.0, ports.1, checksum), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{Echo, EchoKind, UdpDatagram, HOP_LIMIT};

    const TERM: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
    const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);

    fn round_trip(p: &Packet, src: LinkAddress, dst: LinkAddress) -> Vec<u8> {
        let c = compress(p, src, dst);
        let mut lowpan = c.header.clone();
        lowpan.extend_from_slice(&c.ipv6[c.covers..]);
        let d = decompress(&lowpan, src, dst, None).unwrap();
        let mut ipv6 = d.header;
        ipv6.extend_from_slice(&lowpan[d.consumed..]);
        assert_eq!(ipv6, c.ipv6, "rebuilt datagram");
        assert_eq!(Packet::from_ipv6(&ipv6).as_ref(), Ok(p));
        c.header
    }

    #[test]
    fn rad01_link_local_udp_compresses_to_7f33_and_ports_inline() {
        let p = Packet::Udp(UdpDatagram::link_local(METER, TERM, 3610, 3610, vec![0x10]));
        let header = round_trip(&p, METER, TERM);
        assert_eq!(&header[..4], &[0x7f, 0x33, 0xf0, 0x0e]);
        assert_eq!(header.len(), 2 + 7);
    }

    #[test]
    fn rad01_multicast_all_nodes_uses_the_8_bit_form() {
        let mut u = UdpDatagram::link_local(METER, TERM, 4059, 4059, vec![1, 2]);
        u.dst = "ff02::1".parse().unwrap();
        let header = round_trip(&Packet::Udp(u), METER, LinkAddress::BROADCAST);
        assert_eq!(&header[..3], &[0x7f, 0x3b, 0x01]);
    }

    #[test]
    fn rad01_other_multicast_goes_inline_with_dam_00() {
        let mut u = UdpDatagram::link_local(METER, TERM, 4059, 4059, vec![1, 2]);
        u.dst = "ff05:1:2:3:4:5:6:7".parse().unwrap();
        let header = round_trip(&Packet::Udp(u), METER, LinkAddress::BROADCAST);
        assert_eq!(&header[..2], &[0x7f, 0x38]);
        assert_eq!(header.len(), 2 + 16 + 7);
    }

    #[test]
    fn rad01_f0bx_ports_use_4_bit_form_correctly() {
        let p = Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            0xf0b1,
            0xf0b2,
            vec![9],
        ));
        let header = round_trip(&p, TERM, METER);
        assert_eq!(&header[2..4], &[0xf3, 0x12]);
        let p = Packet::Udp(UdpDatagram::link_local(TERM, METER, 4059, 0xf012, vec![9]));
        let header = round_trip(&p, TERM, METER);
        assert_eq!(&header[2..6], &[0xf1, 0x0f, 0xdb, 0x12]);
        let p = Packet::Udp(UdpDatagram::link_local(TERM, METER, 0xf034, 716, vec![9]));
        let header = round_trip(&p, TERM, METER);
        assert_eq!(&header[2..6], &[0xf2, 0x34, 0x02, 0xcc]);
    }

    #[test]
    fn rad01_addresses_not_from_the_link_go_inline() {
        let mut u = UdpDatagram::link_local(TERM, METER, 4059, 4059, vec![1]);
        u.src = "fe80::1".parse().unwrap();
        u.dst = "2001:db8::7".parse().unwrap();
        u.hop_limit = 17;
        let header = round_trip(&Packet::Udp(u), TERM, METER);
        // HLIM inline, SAM=01 (64 bits inline), DAM=00 (128 bits inline)
        assert_eq!(&header[..2], &[0x7c, 0x10]);
        assert_eq!(header.len(), 2 + 1 + 8 + 16 + 7);
    }

    #[test]
    fn rad01_short_link_addresses_elide_too() {
        let p = Packet::Udp(UdpDatagram::link_local(
            LinkAddress::Short(0x0001),
            LinkAddress::Short(0x0002),
            716,
            716,
            vec![1],
        ));
        let header = round_trip(&p, LinkAddress::Short(1), LinkAddress::Short(2));
        assert_eq!(&header[..2], &[0x7f, 0x33]);
    }

    #[test]
    fn rad01_icmpv6_echo_keeps_the_next_header_inline() {
        let e = Echo {
            src: TERM.link_local(),
            dst: METER.link_local(),
            hop_limit: HOP_LIMIT,
            kind: EchoKind::Request,
            ident: 1,
            seq_no: 2,
            data: vec![0xaa; 5],
        };
        let header = round_trip(&Packet::Echo(e), TERM, METER);
        assert_eq!(header, [0x7b, 0x33, 58]);
    }

    #[test]
    fn rad01_elided_checksum_and_extension_headers_are_refused() {
        // 7f33 | NHC UDP C=1 P=00
        let elided = [0x7f, 0x33, 0xf4, 0x0f, 0xdb, 0x0f, 0xdb, 0x01];
        assert_eq!(
            decompress(&elided, TERM, METER, None),
            Err(DecodeError::ChecksumElided)
        );
        // 7f33 | NHC extension header (hop-by-hop)
        let ext = [0x7f, 0x33, 0xe0, 0x11, 0x00];
        assert_eq!(
            decompress(&ext, TERM, METER, None),
            Err(DecodeError::ExtensionHeader)
        );
        assert_eq!(
            decompress(&[0x7f, 0x33, 0xf0, 0x0f], TERM, METER, None),
            Err(DecodeError::Nhc)
        );
        assert_eq!(
            decompress(&[0x7f], TERM, METER, None),
            Err(DecodeError::Iphc)
        );
    }

    #[test]
    fn rad01_first_fragment_headers_use_the_declared_size() {
        let p = Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            4059,
            4059,
            vec![7; 100],
        ));
        let c = compress(&p, TERM, METER);
        let d = decompress(&c.header, TERM, METER, Some(148)).unwrap();
        assert_eq!(d.header, c.ipv6[..48]);
        assert_eq!(
            decompress(&c.header, TERM, METER, Some(47)),
            Err(DecodeError::HeaderBeyondSize {
                header: 48,
                size: 47
            })
        );
    }
}
