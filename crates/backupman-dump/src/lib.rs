//! Sources (work in progress).
