//! DLMS/COSEM for iotroute: the application layer of the IoT route (RAD-01, TRM-02,
//! TRM-05) between the wireless terminal (server) and the smart meter (client).
//!
//! Built on the crate `dlms-cosem-rs` (pinned `=0.1.0`), which only this crate names, so
//! that replacing it touches nothing else.
