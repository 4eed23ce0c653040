//! ECHONET Lite services (ESV), spec part II, 3.2.5.

/// Every service code of ECHONET Lite format 1.
///
/// Unknown codes are a [`crate::FrameError::UnknownEsv`], not a variant: a frame with one
/// cannot be answered in any meaningful way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Esv {
    /// Property value write request, no response required (SetI).
    SetI = 0x60,
    /// Property value write request, response required (SetC).
    SetC = 0x61,
    /// Property value read request (Get).
    Get = 0x62,
    /// Property value notification request (INF_REQ).
    InfReq = 0x63,
    /// Property value write & read request (SetGet).
    SetGet = 0x6E,
    /// Property value write response (Set_Res).
    SetRes = 0x71,
    /// Property value read response (Get_Res).
    GetRes = 0x72,
    /// Property value notification (INF).
    Inf = 0x73,
    /// Property value notification, response required (INFC).
    Infc = 0x74,
    /// Property value notification response (INFC_Res).
    InfcRes = 0x7A,
    /// Property value write & read response (SetGet_Res).
    SetGetRes = 0x7E,
    /// SetI not possible (SetI_SNA).
    SetISna = 0x50,
    /// SetC not possible (SetC_SNA).
    SetCSna = 0x51,
    /// Get not possible (Get_SNA).
    GetSna = 0x52,
    /// INF_REQ not possible (INF_SNA).
    InfSna = 0x53,
    /// SetGet not possible (SetGet_SNA).
    SetGetSna = 0x5E,
}

impl Esv {
    pub const ALL: [Esv; 16] = [
        Esv::SetI,
        Esv::SetC,
        Esv::Get,
        Esv::InfReq,
        Esv::SetGet,
        Esv::SetRes,
        Esv::GetRes,
        Esv::Inf,
        Esv::Infc,
        Esv::InfcRes,
        Esv::SetGetRes,
        Esv::SetISna,
        Esv::SetCSna,
        Esv::GetSna,
        Esv::InfSna,
        Esv::SetGetSna,
    ];

    pub const fn from_u8(code: u8) -> Option<Esv> {
        Some(match code {
            0x60 => Esv::SetI,
            0x61 => Esv::SetC,
            0x62 => Esv::Get,
            0x63 => Esv::InfReq,
            0x6E => Esv::SetGet,
            0x71 => Esv::SetRes,
            0x72 => Esv::GetRes,
            0x73 => Esv::Inf,
            0x74 => Esv::Infc,
            0x7A => Esv::InfcRes,
            0x7E => Esv::SetGetRes,
            0x50 => Esv::SetISna,
            0x51 => Esv::SetCSna,
            0x52 => Esv::GetSna,
            0x53 => Esv::InfSna,
            0x5E => Esv::SetGetSna,
            _ => return None,
        })
    }

    pub const fn code(self) -> u8 {
        self as u8
    }

    /// SetGet, SetGet_Res and SetGet_SNA carry two property lists (set, then get).
    pub const fn has_two_lists(self) -> bool {
        matches!(self, Esv::SetGet | Esv::SetGetRes | Esv::SetGetSna)
    }

    /// Requests a device acts on (0x6_ codes), as opposed to responses and notifications.
    pub const fn is_request(self) -> bool {
        matches!(
            self,
            Esv::SetI | Esv::SetC | Esv::Get | Esv::InfReq | Esv::SetGet
        )
    }

    /// "Service not available" answers (0x5_ codes).
    pub const fn is_sna(self) -> bool {
        matches!(
            self,
            Esv::SetISna | Esv::SetCSna | Esv::GetSna | Esv::InfSna | Esv::SetGetSna
        )
    }

    /// The positive answer to a request. SetI has none on success; INF_REQ is answered by INF.
    pub const fn response(self) -> Option<Esv> {
        match self {
            Esv::SetC => Some(Esv::SetRes),
            Esv::Get => Some(Esv::GetRes),
            Esv::InfReq => Some(Esv::Inf),
            Esv::SetGet => Some(Esv::SetGetRes),
            Esv::Infc => Some(Esv::InfcRes),
            _ => None,
        }
    }

    /// The SNA answer to a request that could not be served in full.
    pub const fn sna(self) -> Option<Esv> {
        match self {
            Esv::SetI => Some(Esv::SetISna),
            Esv::SetC => Some(Esv::SetCSna),
            Esv::Get => Some(Esv::GetSna),
            Esv::InfReq => Some(Esv::InfSna),
            Esv::SetGet => Some(Esv::SetGetSna),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_others_are_unknown() {
        for esv in Esv::ALL {
            assert_eq!(Esv::from_u8(esv.code()), Some(esv));
        }
        let known = (0..=255u8).filter(|c| Esv::from_u8(*c).is_some()).count();
        assert_eq!(known, Esv::ALL.len());
    }

    #[test]
    fn every_request_has_an_sna() {
        for esv in Esv::ALL.iter().filter(|e| e.is_request()) {
            assert!(esv.sna().is_some_and(Esv::is_sna), "{esv:?}");
        }
    }
}
