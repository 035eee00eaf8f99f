//! The S3 drive (work in progress).
