//! SQLite: a consistent copy of a live database file made with the online backup API
//! ([`SqliteSource`]), restored by writing the file beside the target, checking it, and
//! renaming it into place. Both sides open databases read-only the same way.

mod dump;
pub(crate) mod restore;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

pub use dump::SqliteSource;

/// The first 16 bytes of every SQLite database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Opens the database at `path` without any right to change it.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}
