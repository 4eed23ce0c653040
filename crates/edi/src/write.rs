//! A message as XML (docs/edi.md): the tree of the standard, our elements in each
//! record. Written by hand: the tree is fixed and every value is ASCII this crate made.
//! Written to any [`Write`]: into the ZIP's deflater as it goes, so a daily message of
//! 10,000 points (about 200 MB of XML) never stands in memory whole.

use std::io::{self, Write};

use crate::message::{write_jst, write_kwh, Message, Record, JST};

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
/// (docs/edi.md). Written without an allocation (a daily message of a large run has
/// millions of records).
fn record(out: &mut impl Write, tag: &str, r: &Record) -> io::Result<()> {
    open(out, tag)?;
    out.write_all(b"\n")?;
    element(out, "JP06400", r.point.as_str())?;
    element(out, "JP06122", r.quality.status())?;
    element_of(out, "JP06125", |o| write_kwh(o, r.in_wh))?;
    element_of(out, "JPX0101", |o| write_kwh(o, r.out_wh))?;
    element_of(out, "JPX0102", |o| write_kwh(o, r.cum_in_wh))?;
    element_of(out, "JPX0103", |o| write_kwh(o, r.cum_out_wh))?;
    element(out, "JPX0104", r.quality.as_str())?;
    element_of(out, "JPX0105", |o| {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut hex = [0u8; 16];
        for (pair, b) in hex.chunks_exact_mut(2).zip(r.terminal) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0F)];
        }
        o.write_all(&hex)
    })?;
    element_of(out, "JPX0106", |o| write_jst(o, r.slot_start))?;
    element_of(out, "JPX0107", |o| write!(o, "{}", r.interval_min))?;
    if let Some(t) = r.received_at {
        element_of(out, "JPX0108", |o| write_jst(o, t))?;
    }
    close(out, tag)
}

/// `<tag>value</tag>` and a line end, the value escaped.
fn element(out: &mut impl Write, tag: &str, value: &str) -> io::Result<()> {
    element_of(out, tag, |out| {
        if !value.contains(['&', '<', '>', '"', '\'']) {
            return out.write_all(value.as_bytes());
        }
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
        Ok(())
    })
}

/// `<tag>`, what `value` writes (nothing to escape in it), `</tag>` and a line end.
fn element_of<W: Write>(
    out: &mut W,
    tag: &str,
    value: impl FnOnce(&mut W) -> io::Result<()>,
) -> io::Result<()> {
    open(out, tag)?;
    value(out)?;
    close(out, tag)
}

fn open(out: &mut impl Write, tag: &str) -> io::Result<()> {
    out.write_all(b"<")?;
    out.write_all(tag.as_bytes())?;
    out.write_all(b">")
}

/// `</tag>` and a line end.
fn close(out: &mut impl Write, tag: &str) -> io::Result<()> {
    out.write_all(b"</")?;
    out.write_all(tag.as_bytes())?;
    out.write_all(b">\n")
}
