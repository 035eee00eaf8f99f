//! `backupman serve` as an operator runs it: the real binary on a free loopback port, talked
//! to over HTTP with curl (a plain client, as a script or a browser would).

#[path = "../common/mod.rs"]
mod common;
mod server;

mod api;
mod catalog;
mod drives;
mod hostile_folder;
mod memory;
mod open_network;
mod schedules;
mod shutdown;
mod tools;
mod web;
