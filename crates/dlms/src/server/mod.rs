//! The terminal's COSEM server store: the IoT-route object model behind the upstream
//! engine's `ObjectStore` seam, one store per association.
//!
//! The upstream `Server` holds one association and asks its store what that association
//! may do; it does not know which client is asking. So the driver keeps one `Server` per
//! client wPort (16 public, 1 management, 32 maintenance), each with a [`CosemStore`]
//! naming its [`Association`], all sharing one [`SharedModel`]. Before each request the
//! driver calls [`CosemStore::set_now`] (sans-IO: the store reads no clock).
//!
//! Refusals: the engine answers `read-write-denied` itself when
//! `attribute_access`/`method_access` deny; for an object that does not exist or is not
//! visible in this association we want `object-undefined` instead (the object is not in
//! that association's `object_list`), so for those the store lets the request through
//! and `get_attribute`/`set_attribute`/`invoke_method` name the refusal.
//!
//! A driver (`dlms serve`) uses [`TerminalServer`], which holds the three engines:
//!
//! ```text
//! let model = shared(IotRouteModel::new(&ModelConfig::default(), now)?);
//! model.lock()?.fill_demo(days, now)?;                 // --demo-days
//! let mut server = TerminalServer::new(model.clone(), serve_config, os_entropy)?;
//! for each wrapper frame (source wPort s, destination 1, APDU a) received:
//!     if let Some(n) = server.handle(s, now, a, &mut out)? {
//!         persist server.invocation_counter();          // before the reply leaves
//!         send wrapper (source 1, destination s, out[..n]);
//!     }
//! `dlms serve`, at each slot boundary: model.lock()?.capture(now); a terminal node
//! instead shows its store as the load profile (model.view_load_profile(rows)) and
//! drains model.lock()?.take_changes() to act on settings changed by clients.
//! ```

pub mod access_record;
pub mod counter_store;
pub mod terminal;

pub use terminal::{Auth, Entropy, Keys, Protection, ServeConfig, ServeError, TerminalServer};

use std::sync::{Arc, Mutex, MutexGuard};

use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use chrono::{DateTime, Utc};
use dlms_cosem_rs::codec::Writer;
use dlms_cosem_rs::cosem::{AttributeAccess, MethodAccess};
use dlms_cosem_rs::obis::Obis as WireObis;
use dlms_cosem_rs::server::{AuditEvent, ObjectStore, StoreResult};

use crate::cosem::access::{method_flags, Association};
use crate::cosem::{IotRouteModel, Obis, Value};

/// Our logical name from the engine's.
fn ours(ln: WireObis) -> Obis {
    Obis::from(*ln.as_bytes())
}

/// The engine's logical name from ours.
const fn wire(ln: Obis) -> WireObis {
    WireObis::from_bytes(*ln.as_bytes())
}

/// The model shared by the stores of all associations (and the terminal node).
pub type SharedModel = Arc<Mutex<IotRouteModel>>;

/// Wrap a model for sharing.
#[must_use]
pub fn shared(model: IotRouteModel) -> SharedModel {
    Arc::new(Mutex::new(model))
}

/// One association's view of the shared model, as an upstream `ObjectStore`.
#[derive(Debug, Clone)]
pub struct CosemStore {
    model: SharedModel,
    association: Association,
}

/// What the store answers for an object the association cannot see: let the request
/// reach the store, which names the refusal (`object-undefined`, ...).
const PASS_THROUGH: AttributeAccess = AttributeAccess::READ.union(AttributeAccess::WRITE);

impl CosemStore {
    /// The store of `association` over `model`.
    #[must_use]
    pub const fn new(model: SharedModel, association: Association) -> Self {
        Self { model, association }
    }

    /// The store for the client wPort of an incoming wrapper frame; `None` for a wPort
    /// we do not serve.
    #[must_use]
    pub fn for_client_sap(model: SharedModel, client_sap: u16) -> Option<Self> {
        Association::from_client_sap(client_sap).map(|a| Self::new(model, a))
    }

    /// The association this store serves.
    #[must_use]
    pub const fn association(&self) -> Association {
        self.association
    }

    /// The shared model.
    #[must_use]
    pub fn model(&self) -> &SharedModel {
        &self.model
    }

    /// Tell the model the time source's `now`.
    pub fn set_now(&self, now: DateTime<Utc>) {
        if let Some(mut m) = self.lock() {
            m.set_now(now);
        }
    }

    /// Lock the model; a poisoned lock (a panic elsewhere while holding it) is logged
    /// and answered as a failure rather than propagated.
    fn lock(&self) -> Option<MutexGuard<'_, IotRouteModel>> {
        match self.model.lock() {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::error!(error = %e, "COSEM model lock poisoned");
                None
            }
        }
    }

    /// GET as the engine would do it (rights, then value), into an owned value: for
    /// tests and local reads without APDUs.
    ///
    /// # Errors
    /// The Data-Access-Result a client would receive.
    pub fn get(
        &self,
        class_id: u16,
        ln: Obis,
        attribute: i8,
        selective: Option<SelectiveAccess<'_>>,
    ) -> StoreResult<Value> {
        if !self
            .attribute_access(class_id, wire(ln), attribute)
            .can_read()
        {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        let mut bytes = Vec::new();
        self.get_attribute(class_id, wire(ln), attribute, selective, &mut bytes)?;
        Value::decode(&bytes).map_err(|_| DataAccessResult::OtherReason)
    }

    /// SET as the engine would do it (rights, then write).
    ///
    /// # Errors
    /// The Data-Access-Result a client would receive.
    pub fn set(
        &mut self,
        class_id: u16,
        ln: Obis,
        attribute: i8,
        value: Data<'_>,
    ) -> StoreResult<()> {
        if !self
            .attribute_access(class_id, wire(ln), attribute)
            .can_write()
        {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        self.set_attribute(class_id, wire(ln), attribute, None, value)
    }

    /// ACTION as the engine would do it (rights, then invoke); the return value, if any.
    ///
    /// # Errors
    /// The Action-Result a client would receive.
    pub fn action(
        &mut self,
        class_id: u16,
        ln: Obis,
        method: i8,
        parameters: Option<Data<'_>>,
    ) -> Result<Option<Value>, ActionResult> {
        if !self.method_access(class_id, wire(ln), method).can_invoke() {
            return Err(ActionResult::ReadWriteDenied);
        }
        let mut bytes = Vec::new();
        if self.invoke_method(class_id, wire(ln), method, parameters, &mut bytes)? {
            Value::decode(&bytes)
                .map(Some)
                .map_err(|_| ActionResult::OtherReason)
        } else {
            Ok(None)
        }
    }
}

impl ObjectStore for CosemStore {
    fn get_attribute(
        &self,
        class_id: u16,
        logical_name: WireObis,
        attribute_id: i8,
        selective_access: Option<SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> StoreResult<()> {
        let m = self.lock().ok_or(DataAccessResult::TemporaryFailure)?;
        m.get(
            self.association,
            class_id,
            ours(logical_name),
            attribute_id,
            selective_access.as_ref(),
            w,
        )
    }

    fn set_attribute(
        &mut self,
        class_id: u16,
        logical_name: WireObis,
        attribute_id: i8,
        selective_access: Option<SelectiveAccess<'_>>,
        value: Data<'_>,
    ) -> StoreResult<()> {
        let mut m = self.lock().ok_or(DataAccessResult::TemporaryFailure)?;
        m.set(
            self.association,
            class_id,
            ours(logical_name),
            attribute_id,
            selective_access.as_ref(),
            &value,
        )
    }

    fn invoke_method(
        &mut self,
        class_id: u16,
        logical_name: WireObis,
        method_id: i8,
        parameters: Option<Data<'_>>,
        w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        let mut m = self.lock().ok_or(ActionResult::TemporaryFailure)?;
        m.invoke(
            self.association,
            class_id,
            ours(logical_name),
            method_id,
            parameters.as_ref(),
            w,
        )
    }

    fn attribute_access(
        &self,
        class_id: u16,
        logical_name: WireObis,
        attribute_id: i8,
    ) -> AttributeAccess {
        let Some(m) = self.lock() else {
            return AttributeAccess::empty();
        };
        m.attribute_rights(self.association, class_id, ours(logical_name), attribute_id)
            .map_or(PASS_THROUGH, |mode| mode.to_flags())
    }

    fn method_access(&self, class_id: u16, logical_name: WireObis, method_id: i8) -> MethodAccess {
        let Some(m) = self.lock() else {
            return MethodAccess::empty();
        };
        m.method_rights(self.association, class_id, ours(logical_name), method_id)
            .map_or(MethodAccess::ACCESS, method_flags)
    }

    /// Every refusal is logged with the association (SEC-09: evidence of unauthorised
    /// access); successes at debug level.
    fn audit(&mut self, event: AuditEvent) {
        let association = self.association;
        match event {
            AuditEvent::AttributeRead {
                class_id,
                logical_name,
                attribute_id,
                outcome,
            }
            | AuditEvent::AttributeWritten {
                class_id,
                logical_name,
                attribute_id,
                outcome,
            } => {
                if outcome.is_success() {
                    tracing::debug!(?association, class_id, ln = %ours(logical_name), attribute_id, "COSEM access");
                } else {
                    tracing::warn!(?association, class_id, ln = %ours(logical_name), attribute_id, ?outcome, "COSEM access refused");
                }
            }
            AuditEvent::MethodInvoked {
                class_id,
                logical_name,
                method_id,
                outcome,
            } => {
                if outcome.is_success() {
                    tracing::info!(?association, class_id, ln = %ours(logical_name), method_id, "COSEM method");
                } else {
                    tracing::warn!(?association, class_id, ln = %ours(logical_name), method_id, ?outcome, "COSEM method refused");
                }
            }
            AuditEvent::AssociationRefused { diagnostic } => {
                tracing::warn!(?association, ?diagnostic, "association refused");
            }
            // Routine (every reading opens and releases one): debug, so that a smart
            // meter reading many terminals does not flood the log; refusals are warnings.
            other => tracing::debug!(?association, event = ?other, "association"),
        }
    }
}
