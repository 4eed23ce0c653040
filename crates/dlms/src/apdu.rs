//! xDLMS and ACSE APDUs: decode and encode entry points, and the APDU types
//! re-exported under our names.
//!
//! The types are the upstream codec's borrowed wire types (`Apdu<'a>` points into the
//! received buffer: a 48-row profile decodes without allocating). They are re-exported
//! here, and only here, so a swap of the codec crate changes this module and not its
//! callers' paths. A ciphered APDU decodes as [`Apdu::Ciphered`] or
//! [`Apdu::GeneralCiphered`] with its security header intact; [`crate::cipher`] opens it.

use crate::error::{CodecError, CodecErrorKind};
use dlms_cosem_rs::codec::{Decode as _, Encode as _};

pub use dlms_cosem_rs::acse::{
    Aare, Aarq, ApplicationContext, AssociationResult, AuthMechanism, Diagnostic, ReleaseReason,
    Rlre, Rlrq, UserDiagnostic,
};
pub use dlms_cosem_rs::axdr::Data as DataRef;
pub use dlms_cosem_rs::xdlms::{
    ActionRequest, ActionResponse, ActionResponseWithOptionalData, ActionResult, Apdu, ApduTag,
    AttributeDescriptor, AttributeDescriptorWithSelection, CipheredService, ConfirmedServiceError,
    Conformance, DataAccessResult, DataBlockG, DataBlockSA, DataNotification, ExceptionResponse,
    GeneralGloCiphering, GetDataResult, GetRequest, GetResponse, InitiateRequest, InitiateResponse,
    InvokeId, List, LongInvokeId, MethodDescriptor, OptionalDateTime, Protection, SecurityControl,
    SelectiveAccess, ServiceError, SetRequest, SetResponse, StateError,
};

/// Decode one APDU that fills `bytes` exactly.
///
/// # Errors
/// [`CodecError`] with the byte offset in `bytes`; bytes after a complete APDU are
/// [`CodecErrorKind::TrailingBytes`].
pub fn decode(bytes: &[u8]) -> Result<Apdu<'_>, CodecError> {
    let mut r = dlms_cosem_rs::Reader::new(bytes);
    let apdu = Apdu::decode(&mut r)?;
    let used = r.consumed();
    if used != bytes.len() {
        return Err(CodecError::new(
            CodecErrorKind::TrailingBytes(bytes.len() - used),
            used,
        ));
    }
    Ok(apdu)
}

/// What [`encode`] makes room for at once: a data notification with a slot's row, an
/// AARQ or AARE, a GET request or a short answer.
const APDU_ROOM: usize = 256;

/// Encode an APDU.
///
/// # Errors
/// [`CodecError`] when the APDU cannot be encoded (a ciphered service with no ciphered
/// form, a length out of range).
pub fn encode(apdu: &Apdu<'_>) -> Result<Vec<u8>, CodecError> {
    // The codec writes a byte at a time: from an empty buffer, an APDU of the IoT route
    // (40 to 300 bytes) grew it five or six times.
    let mut out = Vec::with_capacity(APDU_ROOM);
    apdu.encode(&mut out)?;
    Ok(out)
}

/// The wire bytes of an owned [`crate::Data`] value, to put into an APDU under
/// construction: the APDU types borrow their data, so a caller encodes the value
/// first and borrows it back with [`data_ref`].
///
/// # Errors
/// As [`crate::Data::encode`].
pub fn data_bytes(value: &crate::Data) -> Result<Vec<u8>, CodecError> {
    value.encode()
}

/// Borrow encoded data (from [`data_bytes`]) as the APDU types' data view.
///
/// # Errors
/// [`CodecError`] when `bytes` is not exactly one A-XDR value.
pub fn data_ref(bytes: &[u8]) -> Result<DataRef<'_>, CodecError> {
    Ok(DataRef::from_bytes_in(bytes)?)
}

/// An owned copy of a borrowed data value.
///
/// # Errors
/// [`CodecError`] when a compact array inside it does not expand.
pub fn to_owned_data(d: &DataRef<'_>) -> Result<crate::Data, CodecError> {
    crate::Data::from_upstream(d)
}

/// An attribute descriptor with our [`crate::Obis`].
#[must_use]
pub fn attribute(class_id: u16, obis: crate::Obis, attribute_id: i8) -> AttributeDescriptor {
    AttributeDescriptor::new(class_id, obis.to_upstream(), attribute_id)
}

/// A method descriptor with our [`crate::Obis`].
#[must_use]
pub fn method(class_id: u16, obis: crate::Obis, method_id: i8) -> MethodDescriptor {
    MethodDescriptor {
        class_id,
        instance_id: obis.to_upstream(),
        method_id,
    }
}

/// The encoding of one element of a GET-/SET-with-list descriptor list, to build a
/// [`List`] with `List::from_raw(count, &bytes)` (the list types borrow their elements).
///
/// # Errors
/// [`CodecError`] when the selective-access parameters cannot be encoded.
pub fn encode_descriptor_with_selection(
    descriptor: &AttributeDescriptor,
    access: Option<SelectiveAccess<'_>>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    AttributeDescriptorWithSelection {
        descriptor: *descriptor,
        access,
    }
    .encode(&mut out)?;
    Ok(out)
}

/// The logical name of a descriptor, as our [`crate::Obis`].
#[must_use]
pub fn obis_of(d: &AttributeDescriptor) -> crate::Obis {
    crate::Obis::from_upstream(d.instance_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trm02_get_request_normal_round_trips() {
        // GET-Request-Normal, invoke id 0xC1, clock 0-0:1.0.0.255 attribute 2.
        let b = [
            0xC0, 0x01, 0xC1, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFF, 0x02, 0x00,
        ];
        let a = decode(&b).unwrap();
        match a {
            Apdu::GetRequest(GetRequest::Normal {
                invoke_id,
                descriptor,
                access,
            }) => {
                assert_eq!(invoke_id.0, 0xC1);
                assert_eq!(descriptor.class_id, 8);
                assert_eq!(obis_of(&descriptor).to_string(), "0-0:1.0.0.255");
                assert!(access.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(encode(&a).unwrap(), b);
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_typed() {
        let b = [
            0xC0, 0x01, 0xC1, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFF, 0x02, 0x00, 0x00,
        ];
        assert_eq!(
            decode(&b).unwrap_err(),
            CodecError::new(CodecErrorKind::TrailingBytes(1), 13)
        );
        assert_eq!(
            decode(&[0x77]).unwrap_err().kind,
            CodecErrorKind::InvalidTag(0x77)
        );
        let e = decode(&[0xC0, 0x01, 0xC1, 0x00]).unwrap_err();
        assert!(matches!(e.kind, CodecErrorKind::Truncated { .. }));
    }

    #[test]
    fn builds_a_get_response_with_owned_data() {
        let v = data_bytes(&crate::Data::DoubleLongUnsigned(12_345_678)).unwrap();
        let a = Apdu::GetResponse(GetResponse::Normal {
            invoke_id: InvokeId(0xC1),
            result: GetDataResult::Data(data_ref(&v).unwrap()),
        });
        assert_eq!(
            encode(&a).unwrap(),
            [0xC4, 0x01, 0xC1, 0x00, 0x06, 0x00, 0xBC, 0x61, 0x4E]
        );
    }
}
