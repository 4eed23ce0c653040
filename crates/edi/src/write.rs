//! A message as XML (docs/edi.md): the tree of the standard, our elements in each
//! record. Written by hand: the tree is fixed and every value is ASCII this crate made.
//! Written to any [`Write`]: into the ZIP's deflater as it goes, so a daily message of
//! 10,000 points (about 200 MB of XML) never stands in memory whole.

use std::io::{self, Write};

use crate::message::{jst, kwh, Message, Record, JST};

/// The header's fields **(ours: the standard's JPC header codes, our meanings)**.
fn header(out: &mut impl Write, m: &Message) -> io::Result<()> {
    out.write_all(b"<JPMGH>\n")?;
    element(out, "JPC03", "0")?; // operation mode: production
    element(out, "JPC06", m.sender.as_str())?;
    element(out, "JPC09", m.receiver.as_str())?;
    element(out, "JPC10", "W4")?; // BPID: the 30-minute energy family
    element(out, "JPC11", m.info.as_str())?;
    element(out, "JPC12", "01")?; // our version of the tree
    element(
        out,
        "JPC19",
        &m.created
            .with_timezone(&JST)
            .format("%Y%m%d%H%M%S")
            .to_string(),
    )?;
    element(out, "JPC21", &m.records.len().to_string())?;
    out.write_all(b"</JPMGH>\n")
}

/// The message's XML document, UTF-8, written to `out`.
///
/// # Errors
/// `out`'s.
pub(crate) fn xml(m: &Message, out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SBD-MSG>\n<JPMGRP>\n")?;
    header(out, m)?;
    out.write_all(b"<JPTRM>\n")?;
    element(out, "JP00002", m.info.as_str())?;
    element(out, "JP06110", m.sender.as_str())?;
    element(out, "JP06112", m.receiver.as_str())?;
    element(out, "JP06116", &m.date.format("%Y%m%d").to_string())?;
    if let Some(n) = m.slot_number() {
        element(out, "JP06219", &format!("{n:02}"))?;
    }
    out.write_all(b"<JPM00010>\n")?;
    if m.info.is_daily() {
        for slot in m.records.chunk_by(|a, b| a.slot_start == b.slot_start) {
            out.write_all(b"<JPMR00010>\n")?;
            element(out, "JP06219", &format!("{:02}", slot[0].slot_number()))?;
            out.write_all(b"<JPM00011>\n")?;
            for r in slot {
                record(out, "JPMR00011", r)?;
            }
            out.write_all(b"</JPM00011>\n</JPMR00010>\n")?;
        }
    } else {
        for r in &m.records {
            record(out, "JPMR00010", r)?;
        }
    }
    out.write_all(b"</JPM00010>\n</JPTRM>\n</JPMGRP>\n</SBD-MSG>\n")
}

/// One record: the standard's supply point, status and AC input, then ours
/// (docs/edi.md).
fn record(out: &mut impl Write, tag: &str, r: &Record) -> io::Result<()> {
    writeln!(out, "<{tag}>")?;
    element(out, "JP06400", r.point.as_str())?;
    element(out, "JP06122", r.quality.status())?;
    element(out, "JP06125", &kwh(r.in_wh))?;
    element(out, "JPX0101", &kwh(r.out_wh))?;
    element(out, "JPX0102", &kwh(r.cum_in_wh))?;
    element(out, "JPX0103", &kwh(r.cum_out_wh))?;
    element(out, "JPX0104", r.quality.as_str())?;
    let terminal: String = r.terminal.iter().map(|b| format!("{b:02X}")).collect();
    element(out, "JPX0105", &terminal)?;
    element(out, "JPX0106", &jst(r.slot_start))?;
    element(out, "JPX0107", &r.interval_min.to_string())?;
    if let Some(t) = r.received_at {
        element(out, "JPX0108", &jst(t))?;
    }
    writeln!(out, "</{tag}>")
}

/// `<tag>value</tag>` and a line end, the value escaped.
fn element(out: &mut impl Write, tag: &str, value: &str) -> io::Result<()> {
    write!(out, "<{tag}>")?;
    for c in value.chars() {
        match c {
            '&' => out.write_all(b"&amp;")?,
            '<' => out.write_all(b"&lt;")?,
            '>' => out.write_all(b"&gt;")?,
            '"' => out.write_all(b"&quot;")?,
            '\'' => out.write_all(b"&apos;")?,
            c => out.write_all(c.encode_utf8(&mut [0; 4]).as_bytes())?,
        }
    }
    writeln!(out, "</{tag}>")
}
