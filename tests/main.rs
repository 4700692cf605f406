//! One integration binary: every test drives the real HTTP server over a real database.

mod common;

mod access_log;
mod auth_roles;
mod credentials;
mod capture;
mod dedup;
mod durability;
mod enrollment;
mod faults;
mod indicators;
mod nodes;
mod ops;
mod reception;
mod records_stats;
mod security;
mod security_audit;
mod security_data;
