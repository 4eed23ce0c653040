//! The ZIP a message travels in: one deflated XML file named as the ZIP with `.xml`,
//! stamped with the message's creation time (Japan time), so the same message always
//! makes the same bytes.

use std::io::{Cursor, Read, Write as _};

use chrono::{Datelike, Timelike};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::error::EdiError;
use crate::message::{Message, JST};
use crate::name::FileName;
use crate::read::{self, MAX_XML};

/// The deflate level the ZIPs are written at.
const FAST: i64 = 1;

fn bad(why: impl Into<String>) -> EdiError {
    EdiError::Zip(why.into())
}

/// `message` in its ZIP, named `name`.
///
/// # Errors
/// [`EdiError::Zip`]: the name does not belong to the message (another information
/// code or time), or the archive could not be written.
pub fn pack(name: &FileName, message: &Message) -> Result<Vec<u8>, EdiError> {
    if name.info() != message.info || name.at() != message.file_time() {
        return Err(bad(format!(
            "{name} is not the name of the {} message of {}",
            message.info,
            message.file_time()
        )));
    }
    let t = message.created.with_timezone(&JST);
    let stamp = zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).map_err(|_| bad("year out of range"))?,
        u8::try_from(t.month()).unwrap_or(1),
        u8::try_from(t.day()).unwrap_or(1),
        u8::try_from(t.hour()).unwrap_or(0),
        u8::try_from(t.minute()).unwrap_or(0),
        u8::try_from(t.second()).unwrap_or(0),
    )
    .map_err(|_| bad(format!("{t} cannot be a ZIP time")))?;
    // Deflate's fastest level (ours): a slot's files are made in 0.27 and a day's in
    // 0.35 of level 6's time, for files a third larger (docs/benchmarks.md).
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(FAST))
        .last_modified_time(stamp)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(name.xml_name(), options)
        .map_err(|e| bad(e.to_string()))?;
    // Straight into the deflater, through a buffer: the XML is never whole in memory.
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, &mut zip);
    message
        .write_xml(&mut buffered)
        .and_then(|()| buffered.flush())
        .map_err(|e| bad(e.to_string()))?;
    drop(buffered);
    Ok(zip.finish().map_err(|e| bad(e.to_string()))?.into_inner())
}

/// The XML document in the ZIP `bytes` named `name`: exactly one file, named as the
/// ZIP with `.xml`, at most [`MAX_XML`] bytes whatever its header claims, its CRC
/// right, UTF-8.
///
/// # Errors
/// [`EdiError::Zip`] for anything else.
pub fn unpack(name: &FileName, bytes: &[u8]) -> Result<String, EdiError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    if archive.len() != 1 {
        return Err(bad(format!("{} files, not one", archive.len())));
    }
    let file = archive.by_index(0).map_err(|e| bad(e.to_string()))?;
    if file.name() != name.xml_name() {
        return Err(bad(format!(
            "it holds {:?}, not {}",
            file.name().chars().take(64).collect::<String>(),
            name.xml_name()
        )));
    }
    if file.size() > MAX_XML as u64 {
        return Err(bad(format!(
            "{} bytes unpacked, above {MAX_XML}",
            file.size()
        )));
    }
    let mut xml = Vec::new();
    // The bound holds even when the header lies about the size (a ZIP bomb).
    file.take(MAX_XML as u64 + 1)
        .read_to_end(&mut xml)
        .map_err(|e| bad(e.to_string()))?;
    if xml.len() > MAX_XML {
        return Err(bad(format!("more than {MAX_XML} bytes unpacked")));
    }
    String::from_utf8(xml).map_err(|_| bad("the XML is not UTF-8"))
}

/// The message in the ZIP `bytes` named `name`, checked against its name.
///
/// # Errors
/// [`EdiError::Zip`] as [`unpack`]; [`EdiError::Xml`] or [`EdiError::Message`] as
/// [`read::message`]; [`EdiError::Zip`] when the message is not the one its name says
/// (another information code or time).
pub fn open(name: &FileName, bytes: &[u8]) -> Result<Message, EdiError> {
    let message = read::message(&unpack(name, bytes)?)?;
    if name.info() != message.info || name.at() != message.file_time() {
        return Err(bad(format!(
            "{name} holds the {} message of {}",
            message.info,
            message.file_time()
        )));
    }
    Ok(message)
}
