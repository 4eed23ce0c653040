//! `iotroute dlms translate`: the interface (name, flags, exit status, JSON shape) that
//! users and scripts rely on.

use std::process::{Command, Output};

const EK: &str = "000102030405060708090A0B0C0D0E0F";
const AK: &str = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";
/// Green Book Table 40: glo-get-request of the clock, SC 0x30, IC 0x01234567.
const GLO: &str = "C8 1E 30 01234567 411312FF935A47566827C467BC 7D825C3BE4A77C3FCC056B6B";

fn translate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotroute"))
        .args(["dlms", "translate"])
        .args(args)
        .output()
        .expect("run iotroute")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn trm02_translates_a_wrapper_frame_split_over_arguments() {
    let o = translate(&["0001 0010 0001 000D", "C0 01 C1", "0008 0000010000FF 02 00"]);
    assert!(o.status.success(), "{o:?}");
    let x = stdout(&o);
    assert!(x.starts_with("<WRAPPER >"), "{x}");
    assert!(x.contains("<GetRequestNormal >"), "{x}");
    assert!(x.contains("0-0:1.0.0.255"), "{x}");
}

#[test]
fn trm02_json_is_one_object() {
    let o = translate(&["--json", "C4 01 C1 00 06 00BC614E"]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let data = &v["GetResponse"]["GetResponseNormal"]["Result"]["Data"]["UInt32"];
    assert_eq!(data["type"], "double-long-unsigned");
    assert_eq!(data["value"], 12_345_678);
}

#[test]
fn sec02_deciphers_with_keys_and_system_title() {
    let o = translate(&[
        "--json",
        GLO,
        "--ek",
        EK,
        "--ak",
        AK,
        "--system-title",
        "4D4D4D0000BC614E",
    ]);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v["GloGetRequest"]["Deciphered"]["GetRequest"]["GetRequestNormal"]["AttributeDescriptor"]
            ["InstanceId"]["decoded"],
        "0-0:1.0.0.255"
    );
    // Without keys the envelope is still shown.
    let o = translate(&[GLO]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("<InvocationCounter Value=\"01234567\" />"));
}

#[test]
fn sec02_wrong_key_exits_1_with_the_tag_offset() {
    let o = translate(&[
        "--json",
        GLO,
        "--ek",
        EK,
        "--ak",
        EK,
        "--system-title",
        "4D4D4D0000BC614E",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["offset"], 20);
    assert!(v["error"].as_str().unwrap().contains("authentication tag"));
}

#[test]
fn malformed_input_exits_1_with_the_byte_offset() {
    // Truncated GET-Request inside a frame whose length is right: offset counts the header.
    let o = translate(&["0001 0010 0001 0004 C0 01 C1 00"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("byte 11"), "{err}");
    // Wrapper length disagreeing with the datagram: offset 6, JSON on stdout.
    let o = translate(&["--json", "0001 0010 0001 0009 C0"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["offset"], 6);
    // Not hex at all.
    let o = translate(&["C0 0G"]);
    assert_eq!(o.status.code(), Some(1));
    // --ek without --ak is a usage error.
    let o = translate(&[GLO, "--ek", EK]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn help_documents_the_flags() {
    let o = translate(&["--help"]);
    let h = stdout(&o);
    for flag in ["--json", "--ek", "--ak", "--system-title", "HEX"] {
        assert!(h.contains(flag), "{flag} missing from --help:\n{h}");
    }
}
