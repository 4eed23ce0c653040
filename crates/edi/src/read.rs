//! A message read back from its XML (the retailer's side): every element of ours and of
//! the standard that the writer puts, each checked; elements we do not know are left
//! alone (a later version may add some), a value out of its range is refused, never
//! guessed.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use roxmltree::{Document, Node};

use crate::code::{InfoCode, PartyCode, SupplyPoint};
use crate::error::EdiError;
use crate::message::{wh_of_kwh, Message, Quality, Record, JST};

/// The largest XML document read **(ours)**: a daily message of 10,000 points at 15
/// minutes (the split's limit, `docs/edi.md`) is about 400 MB; a document larger than
/// this is refused before it is parsed.
pub const MAX_XML: usize = 512 * 1024 * 1024;

fn bad(why: impl Into<String>) -> EdiError {
    EdiError::Xml(why.into())
}

/// The one child element of `node` named `tag`.
fn one<'a>(node: Node<'a, 'a>, tag: &str) -> Result<Node<'a, 'a>, EdiError> {
    let mut found = node.children().filter(|c| c.has_tag_name(tag));
    let first = found
        .next()
        .ok_or_else(|| bad(format!("no {tag} in {}", node.tag_name().name())))?;
    if found.next().is_some() {
        return Err(bad(format!("{tag} twice in {}", node.tag_name().name())));
    }
    Ok(first)
}

/// The text of the one child element `tag` of `node` (empty when it has none).
fn text<'a>(node: Node<'a, 'a>, tag: &str) -> Result<&'a str, EdiError> {
    let element = one(node, tag)?;
    if element.children().any(|c| c.is_element()) {
        return Err(bad(format!("{tag} holds elements")));
    }
    Ok(element.text().unwrap_or_default())
}

/// The child elements of `node` named `tag`.
fn all<'a>(node: Node<'a, 'a>, tag: &'a str) -> impl Iterator<Item = Node<'a, 'a>> + 'a {
    node.children().filter(move |c| c.has_tag_name(tag))
}

fn party(node: Node<'_, '_>, tag: &str) -> Result<PartyCode, EdiError> {
    text(node, tag)?.parse()
}

fn kwh(node: Node<'_, '_>, tag: &str) -> Result<u32, EdiError> {
    let t = text(node, tag)?;
    wh_of_kwh(t).ok_or_else(|| bad(format!("{tag} {t:?} is not kWh with three decimals")))
}

fn time(node: Node<'_, '_>, tag: &str) -> Result<DateTime<Utc>, EdiError> {
    let t = text(node, tag)?;
    let parsed = DateTime::parse_from_rfc3339(t)
        .map_err(|_| bad(format!("{tag} {t:?} is not an RFC 3339 time")))?;
    if parsed.offset() != &JST {
        return Err(bad(format!("{tag} {t:?} is not in +09:00")));
    }
    Ok(parsed.with_timezone(&Utc))
}

fn slot_number(node: Node<'_, '_>) -> Result<u8, EdiError> {
    let t = text(node, "JP06219")?;
    if t.len() != 2 {
        return Err(bad(format!("JP06219 {t:?} is not two digits")));
    }
    t.parse()
        .map_err(|_| bad(format!("JP06219 {t:?} is not two digits")))
}

fn record(node: Node<'_, '_>) -> Result<Record, EdiError> {
    let point: SupplyPoint = text(node, "JP06400")?.parse()?;
    let quality_text = text(node, "JPX0104")?;
    let quality = Quality::parse(quality_text)
        .ok_or_else(|| bad(format!("point {point}: quality {quality_text:?}")))?;
    let status = text(node, "JP06122")?;
    if status != quality.status() {
        return Err(bad(format!(
            "point {point}: status {status:?} with quality {quality_text}"
        )));
    }
    let terminal_text = text(node, "JPX0105")?;
    let mut terminal = [0u8; 8];
    if terminal_text.len() != 16
        || !terminal_text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return Err(bad(format!("point {point}: terminal {terminal_text:?}")));
    }
    for (i, b) in terminal.iter_mut().enumerate() {
        *b = u8::from_str_radix(&terminal_text[2 * i..2 * i + 2], 16)
            .map_err(|_| bad(format!("point {point}: terminal {terminal_text:?}")))?;
    }
    let interval_text = text(node, "JPX0107")?;
    let interval_min = match interval_text {
        "15" => 15,
        "30" => 30,
        other => return Err(bad(format!("point {point}: interval {other:?}"))),
    };
    let received_at = match all(node, "JPX0108").count() {
        0 => None,
        _ => Some(time(node, "JPX0108")?),
    };
    Ok(Record {
        point,
        terminal,
        slot_start: time(node, "JPX0106")?,
        interval_min,
        in_wh: kwh(node, "JP06125")?,
        out_wh: kwh(node, "JPX0101")?,
        cum_in_wh: kwh(node, "JPX0102")?,
        cum_out_wh: kwh(node, "JPX0103")?,
        quality,
        received_at,
    })
}

/// The message in `xml`.
///
/// # Errors
/// [`EdiError::Xml`]: not XML, not our tree, an element missing or twice, a value out
/// of its range, a slot number or count that does not match the records;
/// [`EdiError::Message`]: records that do not make the message (another day, out of
/// order, twice).
pub fn message(xml: &str) -> Result<Message, EdiError> {
    if xml.len() > MAX_XML {
        return Err(bad(format!(
            "{} bytes, above the {MAX_XML} read",
            xml.len()
        )));
    }
    let doc = Document::parse(xml).map_err(|e| bad(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name("SBD-MSG") {
        return Err(bad(format!("root {}, not SBD-MSG", root.tag_name().name())));
    }
    let group = one(root, "JPMGRP")?;
    let (head, body) = (one(group, "JPMGH")?, one(group, "JPTRM")?);
    let info: InfoCode = text(body, "JP00002")?.parse()?;
    if text(head, "JPC11")? != info.as_str() {
        return Err(bad("JPC11 is not the information code JP00002"));
    }
    let sender = party(body, "JP06110")?;
    let receiver = party(body, "JP06112")?;
    if party(head, "JPC06")? != sender || party(head, "JPC09")? != receiver {
        return Err(bad("the header's sender or receiver is not the body's"));
    }
    let date_text = text(body, "JP06116")?;
    let date = NaiveDate::parse_from_str(date_text, "%Y%m%d")
        .ok()
        .filter(|d| d.format("%Y%m%d").to_string() == date_text)
        .ok_or_else(|| bad(format!("JP06116 {date_text:?} is not YYYYMMDD")))?;
    let created_text = text(head, "JPC19")?;
    let created = NaiveDateTime::parse_from_str(created_text, "%Y%m%d%H%M%S")
        .ok()
        .filter(|t| t.format("%Y%m%d%H%M%S").to_string() == created_text)
        .and_then(|t| t.and_local_timezone(JST).single())
        .ok_or_else(|| bad(format!("JPC19 {created_text:?} is not YYYYMMDDHHMMSS")))?
        .with_timezone(&Utc);
    let list = one(body, "JPM00010")?;
    let mut records = Vec::new();
    if info.is_daily() {
        for slot in all(list, "JPMR00010") {
            let number = slot_number(slot)?;
            for node in all(one(slot, "JPM00011")?, "JPMR00011") {
                let r = record(node)?;
                if r.slot_number() != number {
                    return Err(bad(format!(
                        "point {} of slot {} under slot number {number:02}",
                        r.point, r.slot_start
                    )));
                }
                records.push(r);
            }
        }
    } else {
        let number = slot_number(body)?;
        for node in all(list, "JPMR00010") {
            let r = record(node)?;
            if r.slot_number() != number {
                return Err(bad(format!(
                    "point {} of slot {} in the message of slot number {number:02}",
                    r.point, r.slot_start
                )));
            }
            records.push(r);
        }
    }
    let count_text = text(head, "JPC21")?;
    if count_text != records.len().to_string() {
        return Err(bad(format!(
            "JPC21 says {count_text} records, the message holds {}",
            records.len()
        )));
    }
    let message = Message {
        info,
        sender,
        receiver,
        created,
        date,
        records,
    };
    message.check()?;
    Ok(message)
}
