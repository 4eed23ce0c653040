//! The head end system (HES, ヘッドエンドシステム) of the Specified Metering System: it
//! talks to the smart meters over the SM network, collects the terminals' readings and
//! hands them to the MDMS. Built so far: the registry of device points (機器点) it
//! collects for ([`registry`]), the block and reconnect records of OPS-07 ([`blocks`]),
//! the clock, interval and password commands for the terminals ([`commands`]), and their
//! storage ([`storage`] behind a trait, [`sqlite`] the embedded default).

pub mod aroute;
pub mod blocks;
pub mod collect;
pub mod collected;
pub mod commands;
pub mod events;
pub mod feed;
pub mod keys;
pub mod node;
pub mod point;
pub mod registry;
pub mod service;
pub mod sqlite;
pub mod storage;
