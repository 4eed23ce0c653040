//! Typed errors: what went wrong when encoding a datagram, decoding 6LoWPAN bytes, or
//! reassembling fragments. smoltcp's wire types only say `Error` (a unit struct); we say
//! which layer and which field, so that drops can be counted by reason.

use thiserror::Error;

/// Why a datagram could not be encoded into 6LoWPAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The uncompressed IPv6 datagram is longer than the IPv6 minimum MTU that 6LoWPAN
    /// promises (RFC 4944 §4), so no receiver would have to accept it.
    #[error("IPv6 datagram of {size} bytes exceeds the {max}-byte MTU")]
    TooLarge {
        /// Uncompressed IPv6 datagram length.
        size: usize,
        /// The limit (1280).
        max: usize,
    },
    /// The MAC payload budget cannot carry the compressed headers in the first fragment
    /// and 8 octets in each further fragment.
    #[error("MAC payload budget of {budget} bytes too small: at least {needed} needed")]
    BudgetTooSmall {
        /// What the caller offered.
        budget: usize,
        /// The smallest budget that works for this datagram.
        needed: usize,
    },
}

/// Why 6LoWPAN bytes (or the IPv6 datagram they stand for) were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty 6LoWPAN packet")]
    Empty,
    /// A dispatch we do not implement (uncompressed IPv6, HC1, mesh, broadcast, ...).
    #[error("unsupported 6LoWPAN dispatch 0x{0:02x}")]
    Dispatch(u8),
    /// A FRAG1/FRAGN header cut short.
    #[error("truncated fragment header")]
    Fragment,
    /// The IPHC header is truncated or names an address form we cannot resolve (a
    /// context we do not have, a reserved mode, a link address that cannot be elided).
    #[error("malformed or unsupported IPHC header")]
    Iphc,
    /// NH=1 but the next header is a compressed IPv6 extension header (we send none).
    #[error("compressed IPv6 extension headers are not supported")]
    ExtensionHeader,
    /// NH=1 but the bytes are neither NHC UDP nor an extension header, or NHC UDP is
    /// truncated.
    #[error("malformed LOWPAN_NHC header")]
    Nhc,
    /// NHC UDP with C=1: RFC 6282 §4.3.2 allows eliding the checksum only with
    /// upper-layer authorisation, which nothing on the IoT route gives.
    #[error("UDP checksum elided (C=1)")]
    ChecksumElided,
    /// The decompressed headers are longer than the datagram size the fragment declared.
    #[error("headers of {header} bytes exceed the {size}-byte datagram")]
    HeaderBeyondSize {
        /// Uncompressed header length.
        header: usize,
        /// Declared datagram size.
        size: usize,
    },
    /// The (decompressed) IPv6 datagram is longer than the configured maximum.
    #[error("IPv6 datagram of {size} bytes exceeds the maximum {max}")]
    TooLarge {
        /// Uncompressed IPv6 datagram length.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The reassembled datagram is not a valid IPv6 header.
    #[error("malformed IPv6 header")]
    Ipv6,
    /// The UDP header is truncated or its length disagrees with the IPv6 payload length.
    #[error("malformed UDP header")]
    Udp,
    /// The UDP checksum is wrong or zero (a zero checksum is illegal over IPv6,
    /// RFC 8200 §8.1).
    #[error("bad UDP checksum 0x{0:04x}")]
    UdpChecksum(u16),
    /// The ICMPv6 message is truncated or malformed.
    #[error("malformed ICMPv6 message")]
    Icmpv6,
    /// The ICMPv6 checksum is wrong.
    #[error("bad ICMPv6 checksum 0x{0:04x}")]
    Icmpv6Checksum(u16),
    /// An ICMPv6 message other than echo request/reply.
    #[error("unsupported ICMPv6 type {0}")]
    Icmpv6Type(u8),
    /// An IPv6 next header other than UDP or ICMPv6.
    #[error("unsupported IPv6 next header {0}")]
    NextHeader(u8),
}

/// Why the reassembler dropped a packet or fragment (each is counted, see
/// [`Counters`](crate::Counters)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReceiveError {
    /// The bytes (or the datagram they complete) failed to decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A fragment header declares a datagram larger than the configured maximum.
    #[error("fragment declares a {size}-byte datagram, the maximum is {max}")]
    DeclaredTooLarge {
        /// Declared datagram size.
        size: u16,
        /// Configured maximum.
        max: u16,
    },
    /// A new datagram from this link source would exceed the per-source limit.
    #[error("already {limit} datagrams in reassembly from this source")]
    TooManyFromSource {
        /// Configured limit.
        limit: usize,
    },
    /// A new datagram would exceed the total limit.
    #[error("already {limit} datagrams in reassembly")]
    TooManyInReassembly {
        /// Configured limit.
        limit: usize,
    },
    /// A fragment declares another size than the earlier fragments with the same tag;
    /// the whole datagram is dropped.
    #[error("fragment declares {got} bytes, the datagram has {expected}")]
    SizeChanged {
        /// Size from the first fragment seen.
        expected: u16,
        /// Size in this fragment.
        got: u16,
    },
    /// A fragment reaches beyond the declared datagram size; the datagram is dropped.
    #[error("fragment ends at {end}, beyond the {size}-byte datagram")]
    BeyondSize {
        /// Offset just past the fragment's last byte.
        end: usize,
        /// Declared datagram size.
        size: u16,
    },
    /// A fragment overlaps bytes already received with different content; the datagram
    /// is dropped.
    #[error("fragment at {offset} overlaps received bytes with different content")]
    Overlap {
        /// Offset of the fragment in the uncompressed datagram.
        offset: usize,
    },
}
