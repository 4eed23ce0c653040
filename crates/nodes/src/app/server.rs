//! The terminal's DLMS/COSEM server on the IoT route.

use chrono::{DateTime, Utc};
use dlms::cosem::{IotRouteModel, ModelConfig};
use dlms::server::access_record::Served;
use dlms::server::{shared, Auth, Protection, ServeConfig, SharedModel, TerminalServer};
use dlms::wrapper::Wpdu;

use super::entropy::ServerEntropy;
use super::household::Household;

/// The terminal's DLMS side: a model behind a `TerminalServer` — the demo model that
/// grows like a household (the node programs on the hub), or the model a terminal node
/// keeps as the view of its reading store (`sim --link`).
pub struct TerminalApp {
    server: TerminalServer<ServerEntropy>,
    pub(super) model: SharedModel,
    /// The demo's data source; `None` when the model is fed by a terminal node.
    household: Option<Household>,
}

impl core::fmt::Debug for TerminalApp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalApp").finish_non_exhaustive()
    }
}

impl TerminalApp {
    /// The demo model (a day of rows before `start`), LLS with `password` (this
    /// terminal's own, [`dlms_password`]) on the management association, system title
    /// "IRT" + `serial`.
    ///
    /// # Errors
    /// When the model cannot be built.
    pub fn new(
        start: DateTime<Utc>,
        serial: u64,
        seed: u64,
        password: Vec<u8>,
    ) -> Result<Self, String> {
        let mut model =
            IotRouteModel::new(&model_config(password), start).map_err(|e| e.to_string())?;
        model.fill_demo(1, start).map_err(|e| e.to_string())?;
        let mut app = Self::serving(shared(model), serial, seed)?;
        app.household = Some(Household::new(start));
        Ok(app)
    }

    /// Serve `model`, kept up to date by its owner (a terminal node): system title
    /// "IRT" + `serial`, the LLS password the model holds.
    ///
    /// # Errors
    /// When the server cannot be built.
    pub fn serving(model: SharedModel, serial: u64, seed: u64) -> Result<Self, String> {
        let s = serial.to_be_bytes();
        let server = TerminalServer::new(
            model.clone(),
            ServeConfig {
                auth: Auth::Low,
                protection: Protection::None,
                keys: None,
                system_title: [b'I', b'R', b'T', s[3], s[4], s[5], s[6], s[7]],
                max_pdu: 1024,
                invocation_counter: 0,
            },
            ServerEntropy::new(seed),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            server,
            model,
            household: None,
        })
    }

    /// A slot boundary of the demo: grow the registers to `at` and capture the row (a
    /// model fed by a terminal node captures from its store instead).
    pub fn capture(&mut self, at: DateTime<Utc>) {
        let Some(household) = self.household.as_mut() else {
            return;
        };
        if let Ok(mut m) = self.model.lock() {
            household.advance(&mut m, at);
            if let Err(e) = m.capture(at) {
                tracing::error!(error = %e, "capture failed");
            }
        }
    }

    /// One wrapper frame from the smart meter at `now`: what was served (`None`: not a
    /// wrapper frame) and the wrapper frame to answer with. Associations, releases, SET
    /// and ACTION go into the model's access log (SEC-09); accepted image blocks do not
    /// (an image is thousands of them: the driver counts them in its file instead).
    pub fn answer(
        &mut self,
        now: DateTime<Utc>,
        datagram: &[u8],
    ) -> Option<(Served, Option<Vec<u8>>)> {
        let frame = Wpdu::parse(datagram).ok()?;
        if let (Some(household), Ok(mut m)) = (self.household.as_mut(), self.model.lock()) {
            household.advance(&mut m, now);
        }
        let mut out = vec![0u8; 4096];
        let apdu = match self.server.handle(frame.source, now, frame.apdu, &mut out) {
            Ok(Some(n)) => out.get(..n),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(client = frame.source, error = %e, "request over the IoT route not served");
                None
            }
        };
        let served = Served::of(frame.source, frame.apdu, apdu);
        if let (Some(code), false, Ok(mut m)) =
            (served.access, served.image_block, self.model.lock())
        {
            m.log_access(now, code, frame.source);
        }
        let reply = apdu.and_then(|a| Wpdu::new(1, frame.source, a).emit().ok());
        Some((served, reply))
    }
}

/// The model config of a terminal whose management and maintenance associations take
/// `password` (LLS).
#[must_use]
pub fn model_config(password: Vec<u8>) -> ModelConfig {
    ModelConfig {
        association_password: password,
        ..ModelConfig::default()
    }
}
