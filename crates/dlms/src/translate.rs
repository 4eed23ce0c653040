//! An APDU or a wrapper frame to readable XML or JSON: what `iotroute dlms translate`
//! prints (like Gurux's `GXDLMSTranslator`, element names after the Green Book and
//! Gurux's XML where practical: `GetRequest`/`GetRequestNormal`/`AttributeDescriptor`,
//! `ClassId`, `InstanceId`, data types `UInt32`, `OctetString`, ...).
//!
//! Values are printed the way Gurux prints them (hex for integers and octet strings)
//! with a decoded comment beside them (decimal, OBIS code, date-time), so a reader can
//! compare our output with Gurux's line by line and still read the values.

use crate::apdu::{self, Apdu};
use crate::cipher::{self, Keys, SystemTitle};
use crate::data::Data;
use crate::error::CodecError;
use crate::hex;
use crate::wrapper::{Wpdu, WrapperError};
use dlms_cosem_rs::xdlms::{
    ActionRequest, ActionResponse, ActionResponseWithOptionalData, AttributeDescriptor,
    AttributeDescriptorWithSelection, DataBlockG, DataBlockSA, GetDataResult, GetRequest,
    GetResponse, MethodDescriptor, SelectiveAccess, SetRequest, SetResponse,
};
use serde_json::{json, Map, Value};

/// One element of the translation: a name, an optional value, a comment and children.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Element name.
    pub name: String,
    /// The `Value` attribute (Gurux style: hex for numbers and octet strings).
    pub value: Option<String>,
    /// A human-readable decoding, printed as an XML comment and used as the JSON value
    /// when present.
    pub comment: Option<String>,
    /// Children.
    pub children: Vec<Node>,
    /// A typed JSON value to use instead of the generic rendering (data values).
    pub json: Option<Value>,
    /// True when `value` is an element count, printed `Qty="..."` as Gurux does.
    pub quantity: bool,
}

impl Node {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: None,
            comment: None,
            children: Vec::new(),
            json: None,
            quantity: false,
        }
    }

    fn val(name: &str, value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::new(name)
        }
    }

    fn with(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    fn note(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Gurux-like XML, two-space indentation.
    #[must_use]
    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        self.write_xml(&mut s, 0);
        s
    }

    fn write_xml(&self, s: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        s.push_str(&pad);
        s.push('<');
        s.push_str(&self.name);
        if let Some(v) = &self.value {
            s.push_str(if self.quantity {
                " Qty=\""
            } else {
                " Value=\""
            });
            s.push_str(&xml_escape(v));
            s.push('"');
        }
        if self.children.is_empty() {
            s.push_str(" />");
            if let Some(c) = &self.comment {
                s.push_str(" <!-- ");
                s.push_str(&xml_escape(c).replace("--", "- -"));
                s.push_str(" -->");
            }
            s.push('\n');
            return;
        }
        s.push_str(" >");
        if let Some(c) = &self.comment {
            s.push_str(" <!-- ");
            s.push_str(&xml_escape(c).replace("--", "- -"));
            s.push_str(" -->");
        }
        s.push('\n');
        for c in &self.children {
            c.write_xml(s, depth + 1);
        }
        s.push_str(&pad);
        s.push_str("</");
        s.push_str(&self.name);
        s.push_str(">\n");
    }

    /// JSON: a leaf is its value (the comment's decoding when there is one), an element
    /// with children an object; children sharing a name become an array.
    #[must_use]
    pub fn to_json(&self) -> Value {
        if let Some(j) = &self.json {
            return j.clone();
        }
        if self.children.is_empty() {
            return match (&self.value, &self.comment) {
                (Some(v), Some(c)) => json!({ "hex": v, "decoded": c }),
                (Some(v), None) => Value::String(v.clone()),
                (None, Some(c)) => Value::String(c.clone()),
                (None, None) => Value::Null,
            };
        }
        // Children sharing a name (array elements, list items) become one JSON array.
        // Counted once up front: a hostile APDU can hold thousands of elements.
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for c in &self.children {
            *counts.entry(c.name.as_str()).or_default() += 1;
        }
        let mut m = Map::new();
        for c in &self.children {
            let v = c.to_json();
            let repeated = counts.get(c.name.as_str()).copied().unwrap_or(0) > 1;
            match m.get_mut(&c.name) {
                Some(Value::Array(a)) if repeated => a.push(v),
                Some(_) => {}
                None if repeated => {
                    m.insert(c.name.clone(), Value::Array(vec![v]));
                }
                None => {
                    m.insert(c.name.clone(), v);
                }
            }
        }
        Value::Object(m)
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Keys and title for deciphering while translating.
#[derive(Debug, Clone)]
pub struct Decipher {
    /// EK and AK.
    pub keys: Keys,
    /// The sender's system title for `glo-`/`ded-` APDUs.
    pub system_title: Option<SystemTitle>,
}

/// Why input could not be translated. Every variant has a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The wrapper header is malformed.
    #[error("{0}")]
    Wrapper(#[from] WrapperError),
    /// The APDU is malformed (offset into the input, wrapper header included).
    #[error("{0}")]
    Apdu(CodecError),
    /// Deciphering failed (offset into the input).
    #[error("byte {offset}: {error}")]
    Decipher {
        /// What went wrong.
        error: cipher::CipherError,
        /// Where.
        offset: usize,
    },
    /// The deciphered APDU is malformed (offset into the plaintext).
    #[error("deciphered APDU, byte {}: {}", .0.offset, .0.kind)]
    Plain(CodecError),
    /// No bytes.
    #[error("byte 0: empty input")]
    Empty,
}

impl TranslateError {
    /// The byte offset of the error (into the input, or into the plaintext for
    /// [`TranslateError::Plain`]).
    #[must_use]
    pub fn offset(&self) -> usize {
        match self {
            Self::Wrapper(e) => e.offset(),
            Self::Apdu(e) | Self::Plain(e) => e.offset,
            Self::Decipher { offset, .. } => *offset,
            Self::Empty => 0,
        }
    }
}

/// Translate bytes: a wrapper frame (detected by its version-1 header) or a bare APDU;
/// ciphered APDUs are opened when `decipher` is given.
///
/// # Errors
/// [`TranslateError`] with the byte offset.
pub fn translate(bytes: &[u8], decipher: Option<&Decipher>) -> Result<Node, TranslateError> {
    if bytes.is_empty() {
        return Err(TranslateError::Empty);
    }
    if Wpdu::looks_like_frame(bytes) {
        let w = Wpdu::parse(bytes)?;
        let inner = translate_apdu(w.apdu, decipher, crate::wrapper::HEADER_LEN)?;
        return Ok(Node::new("WRAPPER")
            .with(Node::val("Version", "0001"))
            .with(
                Node::val("SourceAddress", format!("{:04X}", w.source)).note(w.source.to_string()),
            )
            .with(
                Node::val("DestinationAddress", format!("{:04X}", w.destination))
                    .note(w.destination.to_string()),
            )
            .with(
                Node::val("Length", format!("{:04X}", w.apdu.len())).note(w.apdu.len().to_string()),
            )
            .with(Node::new("PDU").with(inner)));
    }
    translate_apdu(bytes, decipher, 0)
}

fn translate_apdu(
    bytes: &[u8],
    decipher: Option<&Decipher>,
    base: usize,
) -> Result<Node, TranslateError> {
    let a = apdu::decode(bytes).map_err(|e| TranslateError::Apdu(e.shifted(base)))?;
    let mut node = apdu_node(&a);
    if a.is_protected() {
        if let Some(d) = decipher {
            let opened = cipher::decipher(bytes, &d.keys, d.system_title).map_err(|error| {
                let offset = error.offset().unwrap_or(0) + base;
                TranslateError::Decipher { error, offset }
            })?;
            let plain = apdu::decode(&opened.plain).map_err(TranslateError::Plain)?;
            node.children.push(
                Node::new("Deciphered")
                    .with(Node::val(
                        "SystemTitle",
                        hex::encode(&opened.system_title.0),
                    ))
                    .with(Node::val("PlainText", hex::encode_spaced(&opened.plain)))
                    .with(apdu_node(&plain)),
            );
        }
    }
    // A ciphered AARQ/AARE carries a glo-initiate-request/response in its user
    // information, sealed under the sender's title, which the AARQ/AARE names.
    if let Some(d) = decipher {
        let (ui, title) = match a {
            Apdu::Aarq(q) => (q.user_information, q.calling_ap_title),
            Apdu::Aare(r) => (r.user_information, r.responding_ap_title),
            _ => (None, None),
        };
        if let Some(ui) = ui.filter(|u| matches!(u.first(), Some(0x21 | 0x28))) {
            let title = title
                .and_then(|t| SystemTitle::from_slice(t).ok())
                .or(d.system_title);
            let child = match cipher::decipher(ui, &d.keys, title) {
                Ok(opened) => match apdu::decode(&opened.plain) {
                    Ok(plain) => Node::new("DecipheredUserInformation").with(apdu_node(&plain)),
                    Err(e) => Node::val("DecipheredUserInformation", e.to_string()),
                },
                Err(e) => Node::val("DecipheredUserInformation", e.to_string()),
            };
            node.children.push(child);
        }
    }
    Ok(node)
}

fn hex_u8(v: u8) -> String {
    format!("{v:02X}")
}

fn invoke(v: u8) -> Node {
    Node::val("InvokeIdAndPriority", hex_u8(v))
}

fn obis_node(name: &str, o: dlms_cosem_rs::Obis) -> Node {
    let ours = crate::Obis::from_upstream(o);
    Node::val(name, hex::encode(ours.as_bytes())).note(ours.to_string())
}

fn attr_desc(d: &AttributeDescriptor) -> Node {
    Node::new("AttributeDescriptor")
        .with(Node::val("ClassId", format!("{:04X}", d.class_id)).note(d.class_id.to_string()))
        .with(obis_node("InstanceId", d.instance_id))
        .with(
            Node::val("AttributeId", hex_u8(d.attribute_id as u8)).note(d.attribute_id.to_string()),
        )
}

fn method_desc(d: &MethodDescriptor) -> Node {
    Node::new("MethodDescriptor")
        .with(Node::val("ClassId", format!("{:04X}", d.class_id)).note(d.class_id.to_string()))
        .with(obis_node("InstanceId", d.instance_id))
        .with(Node::val("MethodId", hex_u8(d.method_id as u8)).note(d.method_id.to_string()))
}

fn access_node(a: &SelectiveAccess<'_>) -> Node {
    Node::new("AccessSelection")
        .with(
            Node::val("AccessSelector", hex_u8(a.selector)).note(match a.selector {
                1 => "range_descriptor".to_owned(),
                2 => "entry_descriptor".to_owned(),
                s => s.to_string(),
            }),
        )
        .with(Node::new("AccessParameters").with(data_ref_node(&a.parameters)))
}

fn desc_with_selection(d: &AttributeDescriptorWithSelection<'_>) -> Node {
    let mut n = Node::new("_AttributeDescriptorWithSelection").with(attr_desc(&d.descriptor));
    if let Some(a) = &d.access {
        n = n.with(access_node(a));
    }
    n
}

/// A borrowed data value as a node (through the owned form, so one renderer serves).
fn data_ref_node(d: &dlms_cosem_rs::axdr::Data<'_>) -> Node {
    match Data::from_upstream(d) {
        Ok(v) => data_node(&v),
        Err(e) => Node::val("Undecodable", e.to_string()),
    }
}

fn data_from_raw(raw: &[u8]) -> Option<Node> {
    Data::decode(raw).ok().map(|d| data_node(&d))
}

/// The most data elements one translation renders. A compact array of ~100 bytes expands
/// to up to 2^20 values (found by fuzzing: 829,336 nodes, 20 MB of XML); a real
/// 4,608-row load profile is about 23,000. Beyond this, arrays say how many elements
/// were left out.
pub const MAX_RENDERED_ELEMENTS: usize = 100_000;

/// A data value: the element named after its type, Gurux style; its JSON form is the
/// typed serde form of the whole value (omitted when the value exceeds
/// [`MAX_RENDERED_ELEMENTS`]).
#[must_use]
pub fn data_node(d: &Data) -> Node {
    let mut budget = MAX_RENDERED_ELEMENTS;
    let mut n = data_tree(d, &mut budget);
    // Only the root carries the typed JSON: one per node would copy every subtree once
    // per level.
    if budget > 0 {
        n.json = serde_json::to_value(d).ok();
    }
    n
}

fn data_tree(d: &Data, budget: &mut usize) -> Node {
    *budget = budget.saturating_sub(1);
    let name = d.type_name();
    let n = match d {
        Data::Null | Data::DontCare => Node::new(name),
        Data::Array(v) | Data::Structure(v) => {
            let mut n = Node::val(name, format!("{:02X}", v.len()));
            n.quantity = true;
            for (i, e) in v.iter().enumerate() {
                if *budget == 0 {
                    n.children.push(
                        Node::val("Elided", (v.len() - i).to_string()).note("elements not shown"),
                    );
                    break;
                }
                n.children.push(data_tree(e, budget));
            }
            n.name = name.to_owned();
            n
        }
        Data::Boolean(b) => Node::val(name, if *b { "true" } else { "false" }),
        Data::BitString { bits, bytes } => {
            let s: String = (0..*bits)
                .map(|i| {
                    if bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect();
            Node::val(name, s)
        }
        Data::OctetString(b) => {
            let mut n = Node::val(name, hex::encode(b));
            if let Some(dt) = crate::CosemDateTime::from_slice(b) {
                n.comment = Some(dt.to_string());
            } else if b.len() == 6 {
                n.comment = crate::Obis::from_slice(b).ok().map(|o| o.to_string());
            } else if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                n.comment = Some(String::from_utf8_lossy(b).into_owned());
            }
            n
        }
        Data::VisibleString(b) | Data::Utf8String(b) => {
            Node::val(name, String::from_utf8_lossy(b).into_owned())
        }
        Data::Float32(v) => Node::val(name, format!("{:08X}", v.to_bits())).note(v.to_string()),
        Data::Float64(v) => Node::val(name, format!("{:016X}", v.to_bits())).note(v.to_string()),
        Data::DateTime(v) => Node::val(name, hex::encode(&v.to_bytes())).note(v.to_string()),
        Data::Date(v) => Node::val(name, hex::encode(&v.to_bytes())),
        Data::Time(v) => Node::val(name, hex::encode(&v.to_bytes())),
        Data::Bcd(v) => Node::val(name, format!("{:02X}", *v as u8)),
        other => {
            let width = match other {
                Data::Integer(_)
                | Data::Unsigned(_)
                | Data::Enum(_)
                | Data::DeltaInteger(_)
                | Data::DeltaUnsigned(_) => 2,
                Data::Long(_)
                | Data::LongUnsigned(_)
                | Data::DeltaLong(_)
                | Data::DeltaLongUnsigned(_) => 4,
                Data::Long64(_) | Data::Long64Unsigned(_) => 16,
                _ => 8,
            };
            let v = other.as_i128().unwrap_or(0);
            let bits = width * 4;
            let mask: u128 = if bits >= 128 {
                u128::MAX
            } else {
                (1u128 << bits) - 1
            };
            Node::val(
                name,
                format!("{:0width$X}", (v as u128) & mask, width = width),
            )
            .note(v.to_string())
        }
    };
    n
}

fn get_result(r: &GetDataResult<'_>) -> Node {
    match r {
        GetDataResult::Data(d) => Node::new("Data").with(data_ref_node(d)),
        GetDataResult::Error(e) => {
            Node::val("DataAccessError", format!("{e:?}")).note(e.as_u8().to_string())
        }
    }
}

fn block_g(b: &DataBlockG<'_>) -> Node {
    let mut n = Node::new("Result")
        .with(Node::val(
            "LastBlock",
            if b.last_block { "01" } else { "00" },
        ))
        .with(
            Node::val("BlockNumber", format!("{:08X}", b.block_number))
                .note(b.block_number.to_string()),
        );
    match b.result {
        Ok(raw) => n = n.with(Node::val("RawData", hex::encode(raw))),
        Err(e) => n = n.with(Node::val("DataAccessResult", format!("{e:?}"))),
    }
    n
}

fn block_sa(name: &str, b: &DataBlockSA<'_>) -> Node {
    Node::new(name)
        .with(Node::val(
            "LastBlock",
            if b.last_block { "01" } else { "00" },
        ))
        .with(
            Node::val("BlockNumber", format!("{:08X}", b.block_number))
                .note(b.block_number.to_string()),
        )
        .with(Node::val("RawData", hex::encode(b.raw_data)))
}

fn list<'a, T: dlms_cosem_rs::codec::Decode<'a>>(
    name: &str,
    l: &dlms_cosem_rs::xdlms::List<'a, T>,
    f: impl Fn(&T) -> Node,
) -> Node {
    let mut n = Node::val(name, format!("{:02X}", l.len()));
    n.quantity = true;
    for item in l.iter() {
        n.children.push(match item {
            Ok(v) => f(&v),
            Err(e) => Node::val("Undecodable", CodecError::from(e).to_string()),
        });
    }
    n
}

fn action_result(r: &ActionResponseWithOptionalData<'_>) -> Node {
    let mut n = Node::new("Result")
        .with(Node::val("Result", format!("{:?}", r.result)).note(r.result.as_u8().to_string()));
    if let Some(p) = &r.return_parameters {
        n = n.with(Node::new("ReturnParameters").with(get_result(p)));
    }
    n
}

fn opt_bytes(n: Node, name: &str, b: Option<&[u8]>) -> Node {
    match b {
        Some(b) => n.with(Node::val(name, hex::encode(b))),
        None => n,
    }
}

fn user_information(n: Node, ui: Option<&[u8]>) -> Node {
    let Some(ui) = ui else { return n };
    let mut u = Node::val("UserInformation", hex::encode(ui));
    // The user-information holds an xDLMS InitiateRequest or InitiateResponse, plain or
    // glo-ciphered (the codec has already taken off its BER octet-string wrapper).
    if let Ok(a) = apdu::decode(ui) {
        u = u.with(apdu_node(&a));
    }
    n.with(u)
}

/// The node for a decoded APDU.
#[must_use]
pub fn apdu_node(a: &Apdu<'_>) -> Node {
    match a {
        Apdu::Aarq(q) => {
            let mut n = Node::new("AssociationRequest");
            if let Some(c) = q.application_context {
                n = n.with(Node::val("ApplicationContextName", format!("{c:?}")));
            }
            n = opt_bytes(n, "CallingAPTitle", q.calling_ap_title);
            n = opt_bytes(n, "CalledAPTitle", q.called_ap_title);
            n = opt_bytes(n, "CallingAEQualifier", q.calling_ae_qualifier);
            if q.sender_acse_requirements {
                n = n.with(Node::val("SenderACSERequirements", "1"));
            }
            if let Some(m) = q.mechanism_name {
                n = n.with(Node::val("MechanismName", format!("{m:?}")));
            }
            if let Some(v) = q.calling_authentication_value {
                n = n.with(Node::val("CallingAuthentication", hex::encode(v)));
            }
            user_information(n, q.user_information)
        }
        Apdu::Aare(r) => {
            let mut n = Node::new("AssociationResponse");
            if let Some(c) = r.application_context {
                n = n.with(Node::val("ApplicationContextName", format!("{c:?}")));
            }
            n = n
                .with(Node::val("AssociationResult", format!("{:?}", r.result)))
                .with(Node::val(
                    "ResultSourceDiagnostic",
                    format!("{:?}", r.diagnostic),
                ));
            n = opt_bytes(n, "RespondingAPTitle", r.responding_ap_title);
            if let Some(m) = r.mechanism_name {
                n = n.with(Node::val("MechanismName", format!("{m:?}")));
            }
            if let Some(v) = r.responding_authentication_value {
                n = n.with(Node::val("RespondingAuthentication", hex::encode(v)));
            }
            user_information(n, r.user_information)
        }
        Apdu::Rlrq(r) => {
            let mut n = Node::new("ReleaseRequest");
            if let Some(reason) = r.reason {
                n = n.with(Node::val("Reason", format!("{reason:?}")));
            }
            user_information(n, r.user_information)
        }
        Apdu::Rlre(r) => {
            let mut n = Node::new("ReleaseResponse");
            if let Some(reason) = r.reason {
                n = n.with(Node::val("Reason", format!("{reason:?}")));
            }
            user_information(n, r.user_information)
        }
        Apdu::InitiateRequest(i) => {
            let mut n = Node::new("InitiateRequest");
            if let Some(k) = i.dedicated_key {
                n = n.with(Node::val("DedicatedKey", hex::encode(k)));
            }
            n.with(Node::val(
                "ProposedDlmsVersionNumber",
                hex_u8(i.proposed_dlms_version),
            ))
            .with(Node::val(
                "ProposedConformance",
                hex::encode(&i.proposed_conformance.to_bytes()),
            ))
            .with(
                Node::val(
                    "ProposedMaxPduSize",
                    format!("{:04X}", i.client_max_receive_pdu_size),
                )
                .note(i.client_max_receive_pdu_size.to_string()),
            )
        }
        Apdu::InitiateResponse(i) => Node::new("InitiateResponse")
            .with(Node::val(
                "NegotiatedDlmsVersionNumber",
                hex_u8(i.negotiated_dlms_version),
            ))
            .with(Node::val(
                "NegotiatedConformance",
                hex::encode(&i.negotiated_conformance.to_bytes()),
            ))
            .with(
                Node::val(
                    "NegotiatedMaxPduSize",
                    format!("{:04X}", i.server_max_receive_pdu_size),
                )
                .note(i.server_max_receive_pdu_size.to_string()),
            )
            .with(Node::val("VaaName", format!("{:04X}", i.vaa_name))),
        Apdu::GetRequest(g) => Node::new("GetRequest").with(match g {
            GetRequest::Normal {
                invoke_id,
                descriptor,
                access,
            } => {
                let mut n = Node::new("GetRequestNormal")
                    .with(invoke(invoke_id.0))
                    .with(attr_desc(descriptor));
                if let Some(a) = access {
                    n = n.with(access_node(a));
                }
                n
            }
            GetRequest::Next {
                invoke_id,
                block_number,
            } => Node::new("GetRequestForNextDataBlock")
                .with(invoke(invoke_id.0))
                .with(
                    Node::val("BlockNumber", format!("{block_number:08X}"))
                        .note(block_number.to_string()),
                ),
            GetRequest::WithList { invoke_id, list: l } => Node::new("GetRequestWithList")
                .with(invoke(invoke_id.0))
                .with(list("AttributeDescriptorList", l, desc_with_selection)),
        }),
        Apdu::GetResponse(g) => Node::new("GetResponse").with(match g {
            GetResponse::Normal { invoke_id, result } => Node::new("GetResponseNormal")
                .with(invoke(invoke_id.0))
                .with(Node::new("Result").with(get_result(result))),
            GetResponse::WithDataBlock { invoke_id, block } => {
                let mut n = Node::new("GetResponsewithDataBlock")
                    .with(invoke(invoke_id.0))
                    .with(block_g(block));
                if let (true, Ok(raw)) = (block.last_block && block.block_number == 1, block.result)
                {
                    if let Some(d) = data_from_raw(raw) {
                        n = n.with(Node::new("Data").with(d));
                    }
                }
                n
            }
            GetResponse::WithList { invoke_id, results } => Node::new("GetResponseWithList")
                .with(invoke(invoke_id.0))
                .with(list("Result", results, get_result)),
        }),
        Apdu::SetRequest(s) => Node::new("SetRequest").with(match s {
            SetRequest::Normal {
                invoke_id,
                descriptor,
                access,
                value,
            } => {
                let mut n = Node::new("SetRequestNormal")
                    .with(invoke(invoke_id.0))
                    .with(attr_desc(descriptor));
                if let Some(a) = access {
                    n = n.with(access_node(a));
                }
                n.with(Node::new("Value").with(data_ref_node(value)))
            }
            SetRequest::WithFirstDataBlock {
                invoke_id,
                descriptor,
                access,
                block,
            } => {
                let mut n = Node::new("SetRequestWithFirstDataBlock")
                    .with(invoke(invoke_id.0))
                    .with(attr_desc(descriptor));
                if let Some(a) = access {
                    n = n.with(access_node(a));
                }
                n.with(block_sa("DataBlock", block))
            }
            SetRequest::WithDataBlock { invoke_id, block } => Node::new("SetRequestWithDataBlock")
                .with(invoke(invoke_id.0))
                .with(block_sa("DataBlock", block)),
            SetRequest::WithList {
                invoke_id,
                descriptors,
                values,
            } => Node::new("SetRequestWithList")
                .with(invoke(invoke_id.0))
                .with(list(
                    "AttributeDescriptorList",
                    descriptors,
                    desc_with_selection,
                ))
                .with(list("ValueList", values, data_ref_node)),
            SetRequest::WithListAndFirstDataBlock {
                invoke_id,
                descriptors,
                block,
            } => Node::new("SetRequestWithListAndFirstDataBlock")
                .with(invoke(invoke_id.0))
                .with(list(
                    "AttributeDescriptorList",
                    descriptors,
                    desc_with_selection,
                ))
                .with(block_sa("DataBlock", block)),
        }),
        Apdu::SetResponse(s) => Node::new("SetResponse").with(match s {
            SetResponse::Normal { invoke_id, result } => Node::new("SetResponseNormal")
                .with(invoke(invoke_id.0))
                .with(Node::val("Result", format!("{result:?}")).note(result.as_u8().to_string())),
            SetResponse::DataBlock {
                invoke_id,
                block_number,
            } => Node::new("SetResponseDataBlock")
                .with(invoke(invoke_id.0))
                .with(Node::val("BlockNumber", format!("{block_number:08X}"))),
            SetResponse::LastDataBlock {
                invoke_id,
                result,
                block_number,
            } => Node::new("SetResponseLastDataBlock")
                .with(invoke(invoke_id.0))
                .with(Node::val("Result", format!("{result:?}")))
                .with(Node::val("BlockNumber", format!("{block_number:08X}"))),
            SetResponse::LastDataBlockWithList {
                invoke_id,
                results,
                block_number,
            } => Node::new("SetResponseLastDataBlockWithList")
                .with(invoke(invoke_id.0))
                .with(list("Result", results, |r| {
                    Node::val("_DataAccessResult", format!("{r:?}"))
                }))
                .with(Node::val("BlockNumber", format!("{block_number:08X}"))),
            SetResponse::WithList { invoke_id, results } => Node::new("SetResponseWithList")
                .with(invoke(invoke_id.0))
                .with(list("Result", results, |r| {
                    Node::val("_DataAccessResult", format!("{r:?}"))
                })),
        }),
        Apdu::ActionRequest(r) => Node::new("ActionRequest").with(match r {
            ActionRequest::Normal {
                invoke_id,
                descriptor,
                parameters,
            } => {
                let mut n = Node::new("ActionRequestNormal")
                    .with(invoke(invoke_id.0))
                    .with(method_desc(descriptor));
                if let Some(p) = parameters {
                    n = n.with(Node::new("MethodInvocationParameters").with(data_ref_node(p)));
                }
                n
            }
            ActionRequest::NextPblock {
                invoke_id,
                block_number,
            } => Node::new("ActionRequestForNextPBlock")
                .with(invoke(invoke_id.0))
                .with(Node::val("BlockNumber", format!("{block_number:08X}"))),
            ActionRequest::WithList {
                invoke_id,
                descriptors,
                parameters,
            } => Node::new("ActionRequestWithList")
                .with(invoke(invoke_id.0))
                .with(list("MethodDescriptorList", descriptors, method_desc))
                .with(list(
                    "MethodInvocationParameters",
                    parameters,
                    data_ref_node,
                )),
            ActionRequest::WithFirstPblock {
                invoke_id,
                descriptor,
                block,
            } => Node::new("ActionRequestWithFirstPBlock")
                .with(invoke(invoke_id.0))
                .with(method_desc(descriptor))
                .with(block_sa("PBlock", block)),
            ActionRequest::WithListAndFirstPblock {
                invoke_id,
                descriptors,
                block,
            } => Node::new("ActionRequestWithListAndFirstPBlock")
                .with(invoke(invoke_id.0))
                .with(list("MethodDescriptorList", descriptors, method_desc))
                .with(block_sa("PBlock", block)),
            ActionRequest::WithPblock { invoke_id, block } => Node::new("ActionRequestWithPBlock")
                .with(invoke(invoke_id.0))
                .with(block_sa("PBlock", block)),
        }),
        Apdu::ActionResponse(r) => Node::new("ActionResponse").with(match r {
            ActionResponse::Normal {
                invoke_id,
                response,
            } => Node::new("ActionResponseNormal")
                .with(invoke(invoke_id.0))
                .with(action_result(response)),
            ActionResponse::WithPblock { invoke_id, block } => {
                Node::new("ActionResponseWithPBlock")
                    .with(invoke(invoke_id.0))
                    .with(block_sa("PBlock", block))
            }
            ActionResponse::WithList {
                invoke_id,
                responses,
            } => Node::new("ActionResponseWithList")
                .with(invoke(invoke_id.0))
                .with(list("Result", responses, action_result)),
            ActionResponse::NextPblock {
                invoke_id,
                block_number,
            } => Node::new("ActionResponseNextPBlock")
                .with(invoke(invoke_id.0))
                .with(Node::val("BlockNumber", format!("{block_number:08X}"))),
        }),
        Apdu::DataNotification(d) => {
            let mut n = Node::new("DataNotification").with(Node::val(
                "LongInvokeIdAndPriority",
                format!("{:08X}", d.long_invoke_id.0),
            ));
            n = match d.date_time.0 {
                Some(t) => {
                    let t = crate::CosemDateTime::from(t);
                    n.with(Node::val("DateTime", hex::encode(&t.to_bytes())).note(t.to_string()))
                }
                None => n.with(Node::val("DateTime", "")),
            };
            n.with(
                Node::new("NotificationBody")
                    .with(Node::new("DataValue").with(data_ref_node(&d.body))),
            )
        }
        Apdu::ExceptionResponse(e) => {
            let mut n = Node::new("ExceptionResponse")
                .with(Node::val("StateError", format!("{:?}", e.state_error)))
                .with(Node::val("ServiceError", format!("{:?}", e.service_error)));
            if let Some(ic) = e.expected_invocation_counter {
                n = n
                    .with(Node::val("InvocationCounter", format!("{ic:08X}")).note(ic.to_string()));
            }
            n
        }
        Apdu::ConfirmedServiceError(e) => Node::new("ConfirmedServiceError")
            .with(Node::val("Service", hex_u8(e.service)))
            .with(Node::val("ErrorClass", hex_u8(e.error_class)))
            .with(Node::val("ErrorCode", hex_u8(e.error_code))),
        Apdu::Ciphered {
            protection,
            service,
            body,
        } => {
            let name = format!("{:?}", a.tag());
            Node::new(&name)
                .note(format!("{protection:?} protection of {service:?}"))
                .with(
                    Node::val("SecurityControl", hex_u8(body.security_control.0))
                        .note(sc_text(body.security_control.0)),
                )
                .with(
                    Node::val(
                        "InvocationCounter",
                        format!("{:08X}", body.invocation_counter),
                    )
                    .note(body.invocation_counter.to_string()),
                )
                .with(Node::val("CipheredContent", hex::encode(body.payload)))
        }
        Apdu::GeneralCiphered { body, .. } => Node::new(&format!("{:?}", a.tag()))
            .with(Node::val("SystemTitle", hex::encode(body.system_title)))
            .with(
                Node::val("SecurityControl", hex_u8(body.ciphered.security_control.0))
                    .note(sc_text(body.ciphered.security_control.0)),
            )
            .with(
                Node::val(
                    "InvocationCounter",
                    format!("{:08X}", body.ciphered.invocation_counter),
                )
                .note(body.ciphered.invocation_counter.to_string()),
            )
            .with(Node::val(
                "CipheredContent",
                hex::encode(body.ciphered.payload),
            )),
        other => {
            // Services we translate only as their tag and encoding: ACCESS, GBT,
            // general-ciphering/signing, gateway, event notification.
            let raw = apdu::encode(other).unwrap_or_default();
            Node::new(&format!("{:?}", other.tag())).with(Node::val("Raw", hex::encode(&raw)))
        }
    }
}

fn sc_text(sc: u8) -> String {
    let mut parts = vec![format!("suite {}", sc & 0x0F)];
    if sc & 0x10 != 0 {
        parts.push("authenticated".into());
    }
    if sc & 0x20 != 0 {
        parts.push("encrypted".into());
    }
    if sc & 0x40 != 0 {
        parts.push("broadcast key".into());
    }
    if sc & 0x80 != 0 {
        parts.push("compressed".into());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trm02_translates_a_get_request_in_a_frame() {
        let f = hex::decode("0001 0010 0001 000D C0 01 C1 0008 0000010000FF 02 00").unwrap();
        let n = translate(&f, None).unwrap();
        let x = n.to_xml();
        assert!(x.contains("<GetRequestNormal >"), "{x}");
        assert!(
            x.contains("<InstanceId Value=\"0000010000FF\" /> <!-- 0-0:1.0.0.255 -->"),
            "{x}"
        );
        let j = n.to_json();
        assert_eq!(
            j["PDU"]["GetRequest"]["GetRequestNormal"]["AttributeDescriptor"]["ClassId"]["decoded"],
            "8"
        );
    }

    #[test]
    fn errors_carry_offsets_into_the_input() {
        let f = hex::decode("0001 0010 0001 0004 C0 01 C1 00").unwrap();
        let e = translate(&f, None).unwrap_err();
        assert!(e.offset() >= 8, "{e}: {}", e.offset());
        let e = translate(&hex::decode("0001 0010 0001 0009 C0").unwrap(), None).unwrap_err();
        assert_eq!(e.offset(), 6);
        assert_eq!(translate(&[], None).unwrap_err(), TranslateError::Empty);
    }

    #[test]
    fn a_compact_array_bomb_is_rendered_within_bounds() {
        // 96 bytes that expand to 829,336 values (a fuzz finding).
        let b = hex::decode(concat!(
            "0F000800010013023300000001F8FFFFFFFFFFFFFF000000000000000000000000000000",
            "000000000000020000000000000000000000000000000004000000001F171D1D1D1D1D1D",
            "1D023300000001000000000000000000000C0C0C0C0C0C00",
        ))
        .unwrap();
        let n = translate(&b, None).unwrap();
        let x = n.to_xml();
        assert!(x.len() < 8_000_000, "{} bytes of XML", x.len());
        assert!(x.contains("<Elided"), "no elision");
        assert!(n.to_json().to_string().len() < 8_000_000);
    }

    #[test]
    fn sec02_deciphers_with_keys() {
        let glo =
            hex::decode("C8 1E 30 01234567 411312FF935A47566827C467BC 7D825C3BE4A77C3FCC056B6B")
                .unwrap();
        let d = Decipher {
            keys: Keys::GREEN_BOOK,
            system_title: Some(cipher::GREEN_BOOK_SERVER_TITLE),
        };
        let x = translate(&glo, Some(&d)).unwrap().to_xml();
        assert!(
            x.contains("<Deciphered >") && x.contains("<GetRequestNormal >"),
            "{x}"
        );
        let bad = Decipher {
            keys: Keys {
                ek: [0; 16],
                ak: [0; 16],
            },
            system_title: d.system_title,
        };
        // Gurux's HLS AARQ: its glo-initiate-request opens under the calling AP title.
        let aarq = hex::decode(concat!(
            "605DA109060760857405080103A60A04084D4D4D00000000018A0207808B0760857405080205",
            "AC12801005930401A83B639BE819321B375B41E2BE230421211F3001234567A9E5B8F765E8FF5A",
            "9C93E45C254491DB316B13BA4B6E6E25C063"
        ))
        .unwrap();
        let x = translate(&aarq, Some(&d)).unwrap().to_xml();
        assert!(
            x.contains("<DecipheredUserInformation >") && x.contains("<InitiateRequest >"),
            "{x}"
        );
        assert!(matches!(
            translate(&glo, Some(&bad)),
            Err(TranslateError::Decipher { offset: 20, .. })
        ));
    }
}
