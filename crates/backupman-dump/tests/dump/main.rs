//! Dumps and restores against the machine's PostgreSQL and MariaDB, in one test binary (each
//! binary is a link, the slowest step of a test build on two cores).

mod common;

mod mysql;
mod postgres;
