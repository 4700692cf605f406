//! One integration binary: every test drives the real HTTP server over a real database.

mod common;

mod access_log;
mod auth_roles;
mod console;
mod dedup;
mod durability;
mod enrollment;
mod evidence;
mod indicators;
mod nodes;
mod ops;
mod records_stats;
mod security;
