//! Interop with Wireshark (tshark 4.0): a link type 283 pcap written by our pcap writer
//! with our EBR, EB and CCM*-secured data frames, read back by tshark with the link key
//! in its key table. tshark must show our TAP metadata (RSS, channel, page), the Pairing
//! ID vendor IE, the decrypted 6LoWPAN/UDP payload, and no malformed packet or expert
//! warning (RAD-01, CON-01, SEC-02, SEC-03).
//!
//! Skipped (listed in the `SKIPPED (n):` block of `scripts/test`) only when tshark is
//! missing and `CI` is unset; under `CI=1` a missing tshark fails the test.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{hex, DATA_PLAINTEXT, KEY, METER, TERMINAL};
use wisun::ccm_star;
use wisun::channel::Channel;
use wisun::mac::{
    ack, beacon, fcs, fcs::FcsKind, ie, Address, AuxSecurityHeader, Frame, FrameType, Header,
    PayloadIe, SecurityLevel,
};
use wisun::pairing_id::{PairingIeFormat, PAIRING_IE_OUI};
use wisun::pcap::{self, tap::TapHeader};
use wisun::PairingId;

fn tshark_present() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) => o.status.success(),
        Err(_) => false,
    }
}

/// `None` when the test should be skipped (listed by `scripts/test`; a failure under
/// CI: [`support::skips::skip`]).
fn tshark_or_skip() -> Option<()> {
    if tshark_present() {
        return Some(());
    }
    support::skips::skip("tshark not found (scripts/test installs it)");
    None
}

fn secured_data(
    sequence_number: u8,
    frame_counter: u32,
    level: SecurityLevel,
    payload_ies: Vec<PayloadIe>,
) -> Vec<u8> {
    let mut header = Header::new_2015(
        FrameType::Data,
        Some(sequence_number),
        (None, Some(Address::Extended(METER))),
        (None, Some(Address::Extended(TERMINAL))),
    )
    .expect("ext/ext row");
    header.ack_request = true;
    header.security = Some(AuxSecurityHeader::new(level, frame_counter, 1));
    let (header_ies, payload_ies) = ie::terminate(vec![], payload_ies, true);
    header.header_ies = header_ies;
    let frame = Frame {
        header,
        payload_ies,
        payload: hex(DATA_PLAINTEXT),
    };
    ccm_star::secure(&frame, &KEY).expect("secure")
}

/// EBR, EB, secured data at levels 5 (plain and with an encrypted vendor Payload IE),
/// 6 (with a CRC-32 FCS), 7 and 2 (MIC only), an Enh-Ack and an Imm-Ack, behind a TAP
/// header on channel 33 at -71.5 dBm.
fn frames() -> Vec<(Vec<u8>, FcsKind)> {
    let id = PairingId::from_codes("00", "12345678901").expect("CON-03 example");
    let fmt = PairingIeFormat::default();
    let vendor = vec![PayloadIe::Vendor {
        oui: PAIRING_IE_OUI,
        data: vec![0xaa, 0xbb],
    }];
    vec![
        (
            beacon::enhanced_beacon_request(1, TERMINAL, &id, &fmt)
                .emit()
                .expect("EBR"),
            FcsKind::Crc16,
        ),
        (
            beacon::enhanced_beacon(0x5a, 0x1234, METER, &id, &fmt)
                .emit()
                .expect("EB"),
            FcsKind::Crc16,
        ),
        (
            secured_data(2, 1, ccm_star::DEFAULT_LEVEL, vec![]),
            FcsKind::Crc16,
        ),
        (
            secured_data(3, 2, ccm_star::DEFAULT_LEVEL, vendor),
            FcsKind::Crc16,
        ),
        (
            secured_data(4, 3, SecurityLevel::EncMic64, vec![]),
            FcsKind::Crc32,
        ),
        (
            secured_data(5, 4, SecurityLevel::EncMic128, vec![]),
            FcsKind::Crc16,
        ),
        (
            secured_data(6, 5, SecurityLevel::Mic64, vec![]),
            FcsKind::Crc16,
        ),
        (
            ack::enhanced_ack(6, Address::Extended(TERMINAL))
                .emit()
                .expect("Enh-Ack"),
            FcsKind::Crc16,
        ),
        (
            ack::imm_ack(7, false).emit().expect("Imm-Ack"),
            FcsKind::Crc16,
        ),
    ]
}

fn write_pcap(name: &str, linktype: u32) -> PathBuf {
    let channel = Channel::new(33).expect("channel 33");
    // Per process: other checkouts may share the target directory.
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
    let file = std::fs::File::create(&path).expect("create pcap");
    let mut w = pcap::Writer::new(file, linktype).expect("header");
    for (i, (mpdu, kind)) in frames().iter().enumerate() {
        // Without the TAP header tshark assumes CRC-16 (its default preference).
        let kind = if linktype == pcap::LINKTYPE_IEEE802_15_4_TAP {
            kind
        } else {
            &FcsKind::Crc16
        };
        let psdu = fcs::append(mpdu, *kind).expect("fcs");
        let record = if linktype == pcap::LINKTYPE_IEEE802_15_4_TAP {
            TapHeader::received(*kind, channel, -71.5).wrap(&psdu)
        } else {
            psdu
        };
        w.write(1_700_000_000_000_000 + i as u64 * 1000, &record)
            .expect("record");
    }
    path
}

fn tshark(path: &PathBuf, args: &[&str]) -> String {
    tshark_with_key(path, &KEY, args)
}

/// tshark with `key` as the only row of its 802.15.4 key table (index 1).
fn tshark_with_key(path: &PathBuf, key: &[u8; 16], args: &[&str]) -> String {
    let key = format!(
        "uat:ieee802154_keys:\"{}\",\"1\",\"No hash\"",
        key.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-o", &key])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn fields(path: &PathBuf, names: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-T", "fields", "-E", "separator=|"];
    for n in names {
        args.extend(["-e", n]);
    }
    tshark(path, &args)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn rad01_con01_sec03_tshark_decodes_our_pcap_with_ies_and_decrypts_ccm_star() {
    if tshark_or_skip().is_none() {
        return;
    }
    let path = write_pcap("wisun_tshark_interop.pcap", pcap::LINKTYPE_IEEE802_15_4_TAP);
    let rows = fields(
        &path,
        &[
            "wpan-tap.rss",
            "wpan-tap.ch_num",
            "wpan-tap.ch_page",
            "wpan.header_ie.vendor_specific.vendor_oui",
            "wpan.header_ie.vendor_specific.content",
            "wpan.cmd",
            "wpan.fcs_ok",
            "udp.srcport",
            "udp.dstport",
            "udp.payload",
            "wpan.payload_ie.vendor.oui",
            "wpan.mic",
            "wpan.frame_type",
            "wpan.seq_no",
        ],
    );
    assert_eq!(rows.len(), 9, "{rows:?}");
    for row in &rows {
        assert_eq!(row[..3], ["-71.5", "33", "9"], "TAP TLVs: {row:?}");
        assert_eq!(row[6], "1", "FCS: {row:?}");
    }
    for row in &rows[..2] {
        assert_eq!(row[3], "1193046", "Pairing ID OUI 0x123456: {row:?}");
        assert_eq!(
            row[4], "49 4f 54 30 30 39 30 31",
            "Pairing ID IOT00901: {row:?}"
        );
    }
    assert_eq!(rows[0][5], "0x07", "Beacon Request command: {:?}", rows[0]);
    // The DLMS wrapper + AARQ after IPHC and UDP NHC, decrypted by tshark; the second
    // frame's encrypted vendor Payload IE too; the first MIC is the reference frame's.
    let udp_payload = &DATA_PLAINTEXT[18..];
    assert_eq!(
        rows[2][7..12],
        ["4059", "4059", udp_payload, "", "23ed83a7"],
        "{:?}",
        rows[2]
    );
    assert_eq!(
        rows[3][7..10],
        ["4059", "4059", udp_payload],
        "{:?}",
        rows[3]
    );
    assert_eq!(
        rows[3][10], "1193046",
        "payload IE decrypted: {:?}",
        rows[3]
    );
    // Levels 6 (CRC-32 FCS), 7 and 2 (MIC only): 8, 16 and 8 MIC bytes, payload shown.
    for (row, mic_hex_len) in rows[4..7].iter().zip([16, 32, 16]) {
        assert_eq!(row[7..10], ["4059", "4059", udp_payload], "{row:?}");
        assert_eq!(row[11].len(), mic_hex_len, "MIC: {row:?}");
    }
    // Enh-Ack and Imm-Ack: frame type 2 with the acknowledged sequence numbers.
    assert_eq!(rows[7][12..], ["0x0002", "6"], "{:?}", rows[7]);
    assert_eq!(rows[8][12..], ["0x0002", "7"], "{:?}", rows[8]);
    // With a wrong key no MIC verifies: no UDP payload in any frame (tshark does not
    // show the MIC-only frame's payload either).
    let wrong = tshark_with_key(&path, &[0x55; 16], &["-T", "fields", "-e", "udp.payload"]);
    assert!(
        wrong.lines().all(str::is_empty),
        "decoded with a wrong key: {wrong}"
    );
    let warnings = tshark(
        &path,
        &["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""],
    );
    assert_eq!(warnings, "", "malformed or expert warnings");
}

#[test]
fn rad01_tshark_reads_our_link_type_195_pcap_without_warnings() {
    if tshark_or_skip().is_none() {
        return;
    }
    let path = write_pcap(
        "wisun_tshark_interop_195.pcap",
        pcap::LINKTYPE_IEEE802_15_4_WITHFCS,
    );
    let rows = fields(&path, &["wpan.fcs_ok", "udp.dstport"]);
    let ok: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ok, ["1"; 9], "{rows:?}");
    let warnings = tshark(
        &path,
        &["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""],
    );
    assert_eq!(warnings, "", "malformed or expert warnings");
}
