//! # registro
//!
//! Registers migrants where they first arrive and keeps one trustworthy identity per person
//! across every site and visit. See `docs/ARCHITECTURE.md` for the design.
//!
//! Layers (outer to inner): [`http`] parses and authorises and calls one [`service`] function;
//! `service` owns the rules and the transactions; [`db`] holds diesel rows and queries;
//! [`crypto`] seals fields and computes blind indexes; [`biometrics`] is the pure engine
//! (no actix, diesel or tokio); [`indicators`] computes trafficking and smuggling alerts.

pub mod biometrics;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod indicators;
pub mod logsink;
pub mod service;
pub mod web;
