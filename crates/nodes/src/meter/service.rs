//! How the meter answers: its two objects, their property maps, and the request rules of
//! ECHONET Lite (Get, SetC, SetI, INF_REQ, SetGet, INFC).

use chrono::{DateTime, Timelike, Utc};
use echonet::objects::{
    FixedTimeReading, History, MeterProperty, NodeProfileProperty, OperationStatus,
    SuperclassProperty, Value,
};
use echonet::{
    ClassCode, Eoj, Esv, Frame, Message, MessageRef, Property, PropertyIter, PropertyMap,
    PropertyRef, Repr,
};

use super::state::Channel;
use super::{Meter, MAKER_CODE, METER_EOJ};

/// The three maps of one object.
#[derive(Debug, Clone, Copy)]
pub(super) struct Maps {
    pub anno: PropertyMap,
    pub set: PropertyMap,
    pub get: PropertyMap,
}

fn map(epcs: &[u8]) -> PropertyMap {
    let mut m = PropertyMap::new();
    for &e in epcs {
        m.insert(e);
    }
    m
}

pub(super) fn meter_maps() -> Maps {
    Maps {
        anno: map(&[0x80, 0x81, 0x88]),
        set: map(&[0x81, 0x98, 0xD5, 0xDA]),
        get: map(&[
            0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x98, 0x9D, 0x9E, 0x9F, 0xD0, 0xD1, 0xD2, 0xD3,
            0xD4, 0xD5, 0xD6, 0xDA, 0xDB, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
            0xE9, 0xEA,
        ]),
    }
}

fn node_maps() -> Maps {
    Maps {
        anno: map(&[0x80, 0xD5]),
        set: PropertyMap::new(),
        get: map(&[
            0x80, 0x82, 0x83, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD6, 0xD7,
        ]),
    }
}

/// The 0xD5/0xD6 instance list: our one meter object.
pub(super) fn instance_list() -> Vec<u8> {
    // One instance is far below the 84 a list can carry, so this cannot fail.
    NodeProfileProperty::InstanceList(vec![METER_EOJ])
        .encode()
        .unwrap_or_default()
}

/// One of the node's two objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    NodeProfile,
    Meter,
}

impl Object {
    fn eoj(self) -> Eoj {
        match self {
            Object::NodeProfile => Eoj::NODE_PROFILE,
            Object::Meter => METER_EOJ,
        }
    }

    fn class(self) -> ClassCode {
        self.eoj().class_code()
    }

    fn maps(self) -> Maps {
        match self {
            Object::NodeProfile => node_maps(),
            Object::Meter => meter_maps(),
        }
    }

    /// The object a request's DEOJ names, if it is ours (instance 0 names every
    /// instance of the class).
    fn addressed_by(deoj: Eoj) -> Option<Object> {
        [Object::NodeProfile, Object::Meter]
            .into_iter()
            .find(|o| o.eoj().is_addressed_by(deoj))
    }
}

/// Serves one property of a request: [`Meter::read`] or [`Meter::write`].
type ServeOp = fn(&mut Meter, DateTime<Utc>, Object, PropertyRef<'_>) -> Served;

/// Outcome of serving one property of a request.
enum Served {
    Ok(Property),
    Failed(Property),
}

impl Meter {
    /// Serves one datagram received at `now`; returns the reply to send back to the
    /// sender, if any. Malformed, unsupported and unaddressed datagrams are counted and
    /// logged and get no reply.
    pub fn handle(&mut self, now: DateTime<Utc>, datagram: &[u8]) -> Option<Vec<u8>> {
        self.advance(now);
        // The request is read in place (borrowed from the datagram): nothing is copied
        // until the reply is built.
        let frame = match Frame::new_checked(datagram) {
            Ok(frame) => frame,
            Err(e) => {
                self.stats.malformed += 1;
                if let Some(held_back) = self.log_budget.allow(now) {
                    tracing::warn!(error = %e, len = datagram.len(), held_back, "malformed ECHONET Lite datagram dropped");
                }
                return None;
            }
        };
        let msg = match frame.message() {
            Some(m) => m,
            None => {
                self.stats.unsupported += 1;
                if let Some(held_back) = self.log_budget.allow(now) {
                    tracing::warn!(
                        tid = frame.tid(),
                        len = datagram.len(),
                        held_back,
                        "format 2 frame dropped: a 0x028E meter serves format 1 only"
                    );
                }
                return None;
            }
        };
        let Some(object) = Object::addressed_by(msg.deoj) else {
            self.stats.ignored += 1;
            tracing::debug!(deoj = %msg.deoj, esv = ?msg.esv, "frame for an object we do not hold dropped");
            return None;
        };
        let reply = match msg.esv {
            Esv::Get => self.serve_list(now, object, &msg, Esv::GetRes, Esv::GetSna, Self::read),
            Esv::InfReq => self.serve_list(now, object, &msg, Esv::Inf, Esv::InfSna, Self::read),
            Esv::SetC => self.serve_list(now, object, &msg, Esv::SetRes, Esv::SetCSna, Self::write),
            Esv::SetI => {
                let r = self.serve_list(now, object, &msg, Esv::SetRes, Esv::SetISna, Self::write);
                // SetI is answered only when it fails.
                r.filter(|m| m.esv == Esv::SetISna)
            }
            Esv::SetGet => self.serve_set_get(now, object, &msg),
            Esv::Infc => Some(Message::new(
                msg.tid,
                object.eoj(),
                msg.seoj,
                Esv::InfcRes,
                msg.props
                    .clone()
                    .map(|p| Property::empty(p.epc))
                    .collect::<Vec<_>>(),
            )),
            other => {
                self.stats.ignored += 1;
                tracing::debug!(esv = ?other, "not a request; dropped");
                return None;
            }
        };
        self.stats.requests += 1;
        let reply = reply?;
        if reply.esv.is_sna() {
            self.stats.sna += 1;
            tracing::info!(esv = ?reply.esv, failed = ?failed_epcs(&reply), "request refused in part");
        }
        match Repr::from(reply).to_vec() {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::error!(error = %e, "reply does not fit a frame");
                None
            }
        }
    }

    /// Serves a one-list request with `op` per property.
    fn serve_list(
        &mut self,
        now: DateTime<Utc>,
        object: Object,
        msg: &MessageRef<'_>,
        ok: Esv,
        sna: Esv,
        op: ServeOp,
    ) -> Option<Message> {
        let (props, all_ok) = self.serve_each(now, object, msg.props.clone(), op);
        let esv = if all_ok && !props.is_empty() { ok } else { sna };
        Some(Message::new(msg.tid, object.eoj(), msg.seoj, esv, props))
    }

    /// SetGet: the set list is written first, then the get list read.
    fn serve_set_get(
        &mut self,
        now: DateTime<Utc>,
        object: Object,
        msg: &MessageRef<'_>,
    ) -> Option<Message> {
        let (set, set_ok) = self.serve_each(now, object, msg.props.clone(), Self::write);
        let (get, get_ok) = self.serve_each(now, object, msg.get_props.clone(), Self::read);
        let any = !(set.is_empty() && get.is_empty());
        let esv = if set_ok && get_ok && any {
            Esv::SetGetRes
        } else {
            Esv::SetGetSna
        };
        let mut reply = Message::new(msg.tid, object.eoj(), msg.seoj, esv, set);
        reply.get_props = get;
        Some(reply)
    }

    /// Applies `op` to every property of a list; returns the answers and whether all
    /// succeeded.
    fn serve_each(
        &mut self,
        now: DateTime<Utc>,
        object: Object,
        list: PropertyIter<'_>,
        op: ServeOp,
    ) -> (Vec<Property>, bool) {
        let mut all_ok = true;
        let answers = list
            .map(|p| match op(self, now, object, p) {
                Served::Ok(p) => p,
                Served::Failed(p) => {
                    all_ok = false;
                    p
                }
            })
            .collect();
        (answers, all_ok)
    }

    /// Reads one property: its value, or PDC 0 when the object has no such readable
    /// property.
    fn read(&mut self, now: DateTime<Utc>, object: Object, p: PropertyRef<'_>) -> Served {
        if !object.maps().get.contains(p.epc) {
            return Served::Failed(Property::empty(p.epc));
        }
        match self.value(now, object, p.epc) {
            Some(v) => match v.encode() {
                Ok(edt) => Served::Ok(Property::new(p.epc, edt)),
                Err(e) => {
                    tracing::error!(epc = p.epc, error = %e, "meter value out of range; refused");
                    Served::Failed(Property::empty(p.epc))
                }
            },
            None => Served::Failed(Property::empty(p.epc)),
        }
    }

    /// Writes one property: PDC 0 when accepted; the request's own EDT when refused
    /// (not settable, wrong length or out of range), as the specification asks.
    fn write(&mut self, now: DateTime<Utc>, object: Object, p: PropertyRef<'_>) -> Served {
        let refused = || Served::Failed(Property::from(p));
        if !object.maps().set.contains(p.epc) {
            return refused();
        }
        let value = match Value::decode(object.class(), p.epc, p.edt) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(epc = p.epc, error = %e, "Set refused");
                return refused();
            }
        };
        let local = self.state.local_time(now);
        match value {
            Value::Superclass(SuperclassProperty::InstallationLocation(loc)) => {
                self.state.location = loc;
            }
            Value::Superclass(SuperclassProperty::CurrentDate(d)) => {
                let Some(date) = chrono::NaiveDate::from_ymd_opt(
                    i32::from(d.year),
                    u32::from(d.month),
                    u32::from(d.day),
                ) else {
                    return refused();
                };
                self.state.set_local_time(now, date.and_time(local.time()));
            }
            Value::Meter(MeterProperty::CurrentTime(t)) => {
                let Some(time) = chrono::NaiveTime::from_hms_opt(
                    u32::from(t.hour),
                    u32::from(t.minute),
                    u32::from(t.second),
                ) else {
                    return refused();
                };
                self.state.set_local_time(now, local.date().and_time(time));
            }
            Value::Meter(MeterProperty::HistoryDay(day)) => {
                if day >= self.state.days_held {
                    tracing::info!(
                        day,
                        held = self.state.days_held,
                        "Set of 0xD5 beyond the days held refused"
                    );
                    return refused();
                }
                self.state.history_day = day;
            }
            _ => return refused(),
        }
        Served::Ok(Property::empty(p.epc))
    }

    /// The current value of a readable property.
    fn value(&self, now: DateTime<Utc>, object: Object, epc: u8) -> Option<Value> {
        let maps = object.maps();
        let common = match epc {
            0x80 => Some(SuperclassProperty::OperationStatus(OperationStatus::On)),
            0x83 => Some(SuperclassProperty::IdentificationNumber(
                echonet::objects::IdentificationNumber {
                    maker: MAKER_CODE,
                    unique: self.unique_id(object),
                },
            )),
            0x8A => Some(SuperclassProperty::ManufacturerCode(MAKER_CODE)),
            0x9D => Some(SuperclassProperty::StatusChangeAnnouncementMap(maps.anno)),
            0x9E => Some(SuperclassProperty::SetPropertyMap(maps.set)),
            0x9F => Some(SuperclassProperty::GetPropertyMap(maps.get)),
            _ => None,
        };
        if let Some(c) = common {
            return Some(c.into());
        }
        match object {
            Object::NodeProfile => self.node_value(epc),
            Object::Meter => self.meter_value(now, epc),
        }
    }

    fn node_value(&self, epc: u8) -> Option<Value> {
        use NodeProfileProperty as N;
        let v = match epc {
            // Version 1.14, format 1 only.
            0x82 => N::Version {
                major: 1,
                minor: 14,
                formats: 0x01,
            },
            0xD3 => N::InstanceCount(1),
            0xD4 => N::ClassCount(2),
            0xD6 => N::InstanceList(vec![METER_EOJ]),
            0xD7 => N::ClassList(vec![METER_EOJ.class_code()]),
            _ => return None,
        };
        Some(v.into())
    }

    fn meter_value(&self, now: DateTime<Utc>, epc: u8) -> Option<Value> {
        use MeterProperty as M;
        let s = &self.state;
        let c = &self.config;
        let local = s.local_time(now);
        let v: Value = match epc {
            0x81 => SuperclassProperty::InstallationLocation(s.location.clone()).into(),
            0x82 => SuperclassProperty::StandardVersion {
                release: 'Q',
                revision: 0,
            }
            .into(),
            0x88 => SuperclassProperty::FaultStatus(false).into(),
            0x98 => SuperclassProperty::CurrentDate(crate::echonet_date(local)?).into(),
            0xD0 => M::DeviceType(c.device_type.clone()).into(),
            0xD1 => M::DeviceId(c.device_id.clone()).into(),
            0xD2 => M::ToleranceClass(c.tolerance_class).into(),
            0xD3 => M::HistoryDaysHeld(s.days_held).into(),
            0xD4 => M::Unit(c.unit).into(),
            0xD5 => M::HistoryDay(s.history_day).into(),
            0xD6 => M::MeteredDeviceId(c.metered_device_id.clone()).into(),
            0xDA => M::CurrentTime(crate::echonet_time(local)?).into(),
            0xDB => M::TimeSynchronised(s.synchronised).into(),
            0xE0 => M::CumulativeIn(s.counter(Channel::Input)).into(),
            0xE2 => M::CumulativeOut(s.counter(Channel::Output)).into(),
            0xE4 => M::CumulativeOutage(s.counter(Channel::Outage)).into(),
            0xE1 => M::HistoryIn(self.history(now, Channel::Input)).into(),
            0xE3 => M::HistoryOut(self.history(now, Channel::Output)).into(),
            0xE5 => M::HistoryOutage(self.history(now, Channel::Outage)).into(),
            0xE6 => M::FixedTimeIn(self.fixed(Channel::Input)?).into(),
            0xE7 => M::FixedTimeOut(self.fixed(Channel::Output)?).into(),
            0xE8 => M::FixedTimeOutage(self.fixed(Channel::Outage)?).into(),
            0xE9 => {
                let p = c.profile.power_at(local);
                M::InstantaneousPower(watts(p.input_w - p.output_w)).into()
            }
            0xEA => M::InstantaneousPowerOutage(0).into(),
            _ => return None,
        };
        Some(v)
    }

    fn history(&self, now: DateTime<Utc>, channel: Channel) -> History {
        History {
            day: self.state.history_day,
            slots: self.state.history_of(now, channel),
        }
    }

    /// The reading at the last half-hour boundary; before the first boundary, the
    /// property reads as "not measured" at the start time.
    fn fixed(&self, channel: Channel) -> Option<FixedTimeReading> {
        let (at, value) = match self.state.fixed {
            Some(f) => (
                f.at,
                Some(match channel {
                    Channel::Input => f.input,
                    Channel::Output => f.output,
                    Channel::Outage => f.outage,
                }),
            ),
            None => {
                let start = self.state.local_time(self.state.integrated_to);
                let at = start.date().and_hms_opt(
                    start.hour(),
                    if start.minute() < 30 { 0 } else { 30 },
                    0,
                )?;
                (at, None)
            }
        };
        Some(FixedTimeReading {
            date: crate::echonet_date(at)?,
            time: crate::echonet_time(at)?,
            value,
        })
    }

    /// The 13 bytes of 0x83 after the maker code: the device ID, padded or cut, with the
    /// last byte telling the node profile (0x00) and the meter object (0x01) apart.
    fn unique_id(&self, object: Object) -> [u8; 13] {
        let mut id = [0u8; 13];
        for (dst, src) in id.iter_mut().zip(self.config.device_id.iter().take(12)) {
            *dst = *src;
        }
        id[12] = match object {
            Object::NodeProfile => 0x00,
            Object::Meter => 0x01,
        };
        id
    }
}

/// Rounds a power to whole watts within the range 0xE9 allows.
fn watts(w: f64) -> i32 {
    #[allow(clippy::cast_possible_truncation)]
    let v = w.round().clamp(-2_147_483_647.0, 2_147_483_645.0) as i32;
    v
}

/// EPCs an SNA refuses: in a Set list those echoed with data, in a Get list those with
/// PDC 0.
fn failed_epcs(m: &Message) -> Vec<String> {
    let set_list = matches!(m.esv, Esv::SetCSna | Esv::SetISna | Esv::SetGetSna);
    let first = m.props.iter().filter(|p| p.edt.is_empty() != set_list);
    let second = m.get_props.iter().filter(|p| p.edt.is_empty());
    first
        .chain(second)
        .map(|p| format!("{:02X}", p.epc))
        .collect()
}
