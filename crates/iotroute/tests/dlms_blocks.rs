//! `dlms set` of a value larger than the server's PDU: the client sends it in blocks (SET
//! with datablock, RAD-01) and reads it back in blocks, against `dlms serve --max-pdu 128`.
//!
//! Addresses: block 127.0.164.0/24 (server on `.2`).

mod support;

use std::time::Duration;

use support::{addr, iotroute, json, run_with_timeout, Running};

#[test]
fn rad01_a_set_larger_than_the_pdu_goes_in_blocks_and_reads_back() {
    let host = addr(164, 2).to_string();
    let mut cmd = iotroute();
    cmd.args(["dlms", "serve", "--bind", &host, "--max-pdu", "128"]);
    let _serve = Running::start(cmd, "listening");
    let destination = "31".repeat(200);
    let value = format!(
        "{{\"Structure\":[{{\"Enum\":1}},{{\"OctetString\":\"{destination}\"}},{{\"Enum\":0}}]}}"
    );
    let mut set = iotroute();
    set.args(["dlms", "set", "--host", &host, "--client", "1", "--json"])
        .args(["0-0:25.9.0.255:3", &value]);
    let out = run_with_timeout(set, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut get = iotroute();
    get.args(["dlms", "get", "--host", &host, "--client", "1", "--json"])
        .arg("0-0:25.9.0.255:3");
    let out = run_with_timeout(get, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    assert_eq!(
        j["results"][0]["data"]["Structure"][1]["OctetString"],
        destination
    );
}
