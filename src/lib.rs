//! The `arbor` binary's library half: CLI, config loading, boot, the admin HTTP API and the
//! `ctl` client. It is a library so that integration tests boot exactly what the binary boots,
//! in-process, admin API included.

pub mod admin;
pub mod boot;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod log;
pub mod panic_hook;
pub mod passwd;
