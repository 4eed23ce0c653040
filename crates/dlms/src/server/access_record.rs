//! What an answer says about the access it answers (SEC-09): the access log's code for
//! an AARE, an RLRE, and the final SET or ACTION response. GET answers and intermediate
//! blocks make no record (the log is bounded: reads must not push out what matters).

use crate::apdu::{
    ActionRequest, ActionResponse, ActionResult, Apdu, AssociationResult, DataAccessResult,
    SetResponse,
};
use crate::cosem::AccessCode;

/// The access-log code of the server's answer `apdu` (plain, as the engine wrote it),
/// or `None` when it makes no record.
#[must_use]
pub fn access_code(apdu: &[u8]) -> Option<AccessCode> {
    let ok =
        |accepted: bool, yes: AccessCode, no: AccessCode| Some(if accepted { yes } else { no });
    let all_set = |results: &crate::apdu::List<'_, DataAccessResult>| {
        results
            .iter()
            .all(|r| matches!(r, Ok(DataAccessResult::Success)))
    };
    match crate::apdu::decode(apdu).ok()? {
        Apdu::Aare(a) => ok(
            a.result == AssociationResult::Accepted,
            AccessCode::AssociationAccepted,
            AccessCode::AssociationRefused,
        ),
        Apdu::Rlre(_) => Some(AccessCode::Released),
        Apdu::SetResponse(
            SetResponse::Normal { result, .. } | SetResponse::LastDataBlock { result, .. },
        ) => ok(
            result == DataAccessResult::Success,
            AccessCode::SetAccepted,
            AccessCode::SetRefused,
        ),
        Apdu::SetResponse(
            SetResponse::WithList { results, .. }
            | SetResponse::LastDataBlockWithList { results, .. },
        ) => ok(
            all_set(&results),
            AccessCode::SetAccepted,
            AccessCode::SetRefused,
        ),
        Apdu::ActionResponse(ActionResponse::Normal { response, .. }) => ok(
            response.result == ActionResult::Success,
            AccessCode::ActionAccepted,
            AccessCode::ActionRefused,
        ),
        Apdu::ActionResponse(ActionResponse::WithList { responses, .. }) => ok(
            responses
                .iter()
                .all(|r| r.is_ok_and(|r| r.result == ActionResult::Success)),
            AccessCode::ActionAccepted,
            AccessCode::ActionRefused,
        ),
        _ => None,
    }
}

/// Whether `request` is one block of an image transfer (class 18, method 2). An
/// update is a hundred thousand of them: the driver counts the accepted ones instead of
/// recording each, so that one update does not push everything else out of the logs.
#[must_use]
pub fn is_image_block(request: &[u8]) -> bool {
    matches!(
        crate::apdu::decode(request),
        Ok(Apdu::ActionRequest(ActionRequest::Normal { descriptor, .. }))
            if descriptor.class_id == 18 && descriptor.method_id == 2
    )
}

/// One request a server answered, as an access log file records it (SEC-09): who (the
/// client wPort), what (the request's kind), and what the terminal answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The client wPort.
    pub client: u16,
    /// The request's kind: `association`, `release`, `get`, `set`, `action`,
    /// `ciphered`, `other`.
    pub request: &'static str,
    /// The answer's tag (an AARE, a response, an exception), if it answered.
    pub answer: Option<u8>,
    /// For an AARE, whether it accepted the association.
    pub accepted: Option<bool>,
    /// For a SET answer, its result (`Success`, `ReadWriteDenied`, ...: a refused SET,
    /// the terminal ID's above all, is evidence, TRM-08).
    pub result: Option<String>,
    /// The access log's code of the answer ([`access_code`]).
    pub access: Option<AccessCode>,
    /// An accepted image block ([`is_image_block`]): counted, not recorded one by one.
    pub image_block: bool,
}

impl Served {
    /// What `answer` (none: no answer) to `request` from `client` says.
    #[must_use]
    pub fn of(client: u16, request: &[u8], answer: Option<&[u8]>) -> Self {
        let access = answer.and_then(access_code);
        let (accepted, result) = match answer.map(crate::apdu::decode) {
            Some(Ok(Apdu::Aare(a))) => (Some(a.result == AssociationResult::Accepted), None),
            Some(Ok(Apdu::SetResponse(
                SetResponse::Normal { result, .. } | SetResponse::LastDataBlock { result, .. },
            ))) => (None, Some(format!("{result:?}"))),
            _ => (None, None),
        };
        Self {
            client,
            request: request_kind(request),
            answer: answer.and_then(|a| a.first().copied()),
            accepted,
            result,
            access,
            image_block: access == Some(AccessCode::ActionAccepted) && is_image_block(request),
        }
    }

    /// Whether the request was a GET, which reads the model and never changes it: a
    /// driver that skips its node's poll while nothing changed asks this (the kind's
    /// name is [`request_kind`]'s, kept beside it).
    #[must_use]
    pub fn is_get(&self) -> bool {
        self.request == "get"
    }
}

/// The kind of request `apdu` is, by its tag.
#[must_use]
pub fn request_kind(apdu: &[u8]) -> &'static str {
    match apdu.first() {
        Some(0x60) => "association",
        Some(0x62) => "release",
        Some(0xC0) => "get",
        Some(0xC1) => "set",
        Some(0xC3) => "action",
        Some(0xC8 | 0xC9 | 0xCB | 0xDB | 0xDD) => "ciphered",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Bad input: whatever bytes the answer holds, a code or none, never a panic.
        #[test]
        fn sec09_any_answer_gives_a_code_or_none(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = access_code(&bytes);
            let served = Served::of(32, &bytes, Some(&bytes));
            proptest::prop_assert_eq!(served.answer, bytes.first().copied());
        }
    }

    #[test]
    fn sec09_a_get_answer_makes_no_record_and_a_release_or_set_does() {
        // GET-Response-Normal, invoke id 0xC1, data: unsigned 5.
        assert_eq!(access_code(&[0xC4, 0x01, 0xC1, 0x00, 0x11, 0x05]), None);
        // RLRE with reason normal.
        assert_eq!(
            access_code(&[0x63, 0x03, 0x80, 0x01, 0x00]),
            Some(AccessCode::Released)
        );
        // SET-Response-Normal: success, then read-write-denied.
        assert_eq!(
            access_code(&[0xC5, 0x01, 0xC1, 0x00]),
            Some(AccessCode::SetAccepted)
        );
        assert_eq!(
            access_code(&[0xC5, 0x01, 0xC1, 0x03]),
            Some(AccessCode::SetRefused)
        );
    }

    #[test]
    fn sec09_only_an_image_block_is_an_image_block() {
        // ACTION-Request-Normal, invoke id 0xC1, class 18, 0-0:44.0.0.255, method N, no
        // parameters.
        let action = |class: u8, method: u8| {
            vec![
                0xC3, 0x01, 0xC1, 0x00, class, 0, 0, 44, 0, 0, 255, method, 0x00,
            ]
        };
        assert!(is_image_block(&action(18, 2)));
        assert!(!is_image_block(&action(18, 3)), "verify is recorded");
        assert!(!is_image_block(&action(8, 2)));
        assert!(!is_image_block(&[0xC3]));
    }
}
