//! One integration binary: every test drives the real HTTP server over a real database.

mod access_log;
mod auth_roles;
mod capture;
mod common;
mod concurrency;
mod console;
mod credentials;
mod dedup;
mod durability;
mod enrollment;
mod evidence;
mod faults;
mod fuzz;
mod identity;
mod indicators;
mod keys;
mod nodes;
mod ops;
mod reception;
mod records_stats;
mod security;
mod security_audit;
mod security_data;
