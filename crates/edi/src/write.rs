//! A message as XML (docs/edi.md): the tree of the standard, our elements in each
//! record. Written by hand: the tree is fixed, every value is ASCII this crate made, and
//! a message of 100,000 points is written at the speed of a string being filled.

use core::fmt::Write as _;

use crate::message::{jst, kwh, Message, Record, JST};

/// The header's fields **(ours: the standard's JPC header codes, our meanings)**.
fn header(out: &mut String, m: &Message) {
    out.push_str("<JPMGH>\n");
    element(out, "JPC03", "0"); // operation mode: production
    element(out, "JPC06", m.sender.as_str());
    element(out, "JPC09", m.receiver.as_str());
    element(out, "JPC10", "W4"); // BPID: the 30-minute energy family
    element(out, "JPC11", m.info.as_str());
    element(out, "JPC12", "01"); // our version of the tree
    element(
        out,
        "JPC19",
        &m.created
            .with_timezone(&JST)
            .format("%Y%m%d%H%M%S")
            .to_string(),
    );
    element(out, "JPC21", &m.records.len().to_string());
    out.push_str("</JPMGH>\n");
}

/// The message's XML document, UTF-8.
#[must_use]
pub(crate) fn xml(m: &Message) -> String {
    let mut out = String::with_capacity(512 + m.records.len() * 420);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SBD-MSG>\n<JPMGRP>\n");
    header(&mut out, m);
    out.push_str("<JPTRM>\n");
    element(&mut out, "JP00002", m.info.as_str());
    element(&mut out, "JP06110", m.sender.as_str());
    element(&mut out, "JP06112", m.receiver.as_str());
    element(&mut out, "JP06116", &m.date.format("%Y%m%d").to_string());
    if let Some(n) = m.slot_number() {
        element(&mut out, "JP06219", &format!("{n:02}"));
    }
    out.push_str("<JPM00010>\n");
    if m.info.is_daily() {
        for slot in m.records.chunk_by(|a, b| a.slot_start == b.slot_start) {
            out.push_str("<JPMR00010>\n");
            element(
                &mut out,
                "JP06219",
                &format!("{:02}", slot[0].slot_number()),
            );
            out.push_str("<JPM00011>\n");
            for r in slot {
                record(&mut out, "JPMR00011", r);
            }
            out.push_str("</JPM00011>\n</JPMR00010>\n");
        }
    } else {
        for r in &m.records {
            record(&mut out, "JPMR00010", r);
        }
    }
    out.push_str("</JPM00010>\n</JPTRM>\n</JPMGRP>\n</SBD-MSG>\n");
    out
}

/// One record: the standard's supply point, status and AC input, then ours
/// (docs/edi.md).
fn record(out: &mut String, tag: &str, r: &Record) {
    let _ = writeln!(out, "<{tag}>");
    element(out, "JP06400", r.point.as_str());
    element(out, "JP06122", r.quality.status());
    element(out, "JP06125", &kwh(r.in_wh));
    element(out, "JPX0101", &kwh(r.out_wh));
    element(out, "JPX0102", &kwh(r.cum_in_wh));
    element(out, "JPX0103", &kwh(r.cum_out_wh));
    element(out, "JPX0104", r.quality.as_str());
    let mut terminal = String::with_capacity(16);
    for b in r.terminal {
        let _ = write!(terminal, "{b:02X}");
    }
    element(out, "JPX0105", &terminal);
    element(out, "JPX0106", &jst(r.slot_start));
    element(out, "JPX0107", &r.interval_min.to_string());
    if let Some(t) = r.received_at {
        element(out, "JPX0108", &jst(t));
    }
    let _ = writeln!(out, "</{tag}>");
}

/// `<tag>value</tag>` and a line end, the value escaped.
fn element(out: &mut String, tag: &str, value: &str) {
    let _ = write!(out, "<{tag}>");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "</{tag}>");
}
