//! The S3 drive against real S3 servers, one module per subject, in one test binary (each
//! binary is a link, the slowest step of a test build on two cores).

mod ceph;
mod conformance;
mod errors;
mod integrity;
mod uploads;
