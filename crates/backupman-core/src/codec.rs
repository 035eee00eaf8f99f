//! What a backup is compressed with: the codec, its level and its threads, and the names a
//! codec leaves behind (the key's suffix, the manifest's `compression` label, the object's
//! first bytes). Every rule about codecs that more than one crate needs lives here once.

use std::fmt;
use std::ops::RangeInclusive;

/// A compression format for stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Codec {
    /// gzip (RFC 1952), readable by `gunzip`; the default and the only codec of older backups.
    #[default]
    Gzip,
    /// Zstandard, readable by `zstd -d`.
    Zstd,
    /// Stored as dumped.
    None,
}

impl Codec {
    /// Every codec, in the order the documentation lists them.
    pub const ALL: [Codec; 3] = [Codec::Gzip, Codec::Zstd, Codec::None];

    /// The name used in `config.yml` and in manifests: `gzip`, `zstd` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::None => "none",
        }
    }

    /// The codec called `name` in `config.yml`.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What a key ends with after the dump's extension: `.gz`, `.zst` or nothing.
    pub fn key_suffix(self) -> &'static str {
        match self {
            Codec::Gzip => ".gz",
            Codec::Zstd => ".zst",
            Codec::None => "",
        }
    }

    /// The levels the codec accepts (`none` has none: only its default, 0).
    pub fn levels(self) -> RangeInclusive<u32> {
        match self {
            Codec::Gzip => 1..=9,
            Codec::Zstd => 1..=19,
            Codec::None => 0..=0,
        }
    }

    /// The level used when the configuration names none.
    pub fn default_level(self) -> u32 {
        match self {
            Codec::Gzip => 6,
            Codec::Zstd => 3,
            Codec::None => 0,
        }
    }

    /// The codec a stored object was written with, told by its first bytes (the gzip and
    /// zstd magic numbers; anything else is a plain dump, which starts with SQL text or
    /// `SQLite format 3`). Reading needs neither the key nor the manifest, so every reader
    /// handles every codec and backups made before codecs existed.
    pub fn sniff(head: &[u8]) -> Codec {
        if head.starts_with(&[0x1f, 0x8b]) {
            Codec::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Codec::Zstd
        } else {
            Codec::None
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the engine compresses: a codec, a level valid for it and the threads that compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    codec: Codec,
    level: u32,
    threads: usize,
}

impl Compression {
    /// `codec` at `level` (clamped into [`Codec::levels`]) on `threads` threads (at least 1).
    pub fn new(codec: Codec, level: u32, threads: usize) -> Self {
        let levels = codec.levels();
        Self {
            codec,
            level: level.clamp(*levels.start(), *levels.end()),
            threads: threads.max(1),
        }
    }

    /// `codec` at its default level on every available core.
    pub fn default_for(codec: Codec) -> Self {
        Self::new(codec, codec.default_level(), available_threads())
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The level.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// The compression threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The manifest's `compression` field: `gzip-6`, `zstd-3` or `none` (older manifests
    /// say `gzip-<level>`, which this keeps).
    pub fn label(&self) -> String {
        match self.codec {
            Codec::None => "none".to_owned(),
            codec => format!("{}-{}", codec.name(), self.level),
        }
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::default_for(Codec::Gzip)
    }
}

/// The default number of compression threads: the cores this process may use.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_labels_keep_the_old_form() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
        }
        assert_eq!(Codec::from_name("lz4"), None);
        assert_eq!(Compression::new(Codec::Gzip, 6, 2).label(), "gzip-6");
        assert_eq!(Compression::new(Codec::Zstd, 3, 2).label(), "zstd-3");
        assert_eq!(Compression::new(Codec::None, 5, 2).label(), "none");
    }

    #[test]
    fn levels_and_threads_are_clamped() {
        let c = Compression::new(Codec::Gzip, 42, 0);
        assert_eq!((c.level(), c.threads()), (9, 1));
        assert_eq!(Compression::new(Codec::Zstd, 0, 4).level(), 1);
        assert_eq!(Compression::default().codec(), Codec::Gzip);
        assert_eq!(Compression::default().level(), 6);
    }

    #[test]
    fn sniffing_tells_the_codecs_apart() {
        assert_eq!(Codec::sniff(&[0x1f, 0x8b, 8, 0]), Codec::Gzip);
        assert_eq!(Codec::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Codec::Zstd);
        assert_eq!(
            Codec::sniff(b"--\n-- PostgreSQL database dump"),
            Codec::None
        );
        assert_eq!(Codec::sniff(b"SQLite format 3\0"), Codec::None);
        assert_eq!(Codec::sniff(b""), Codec::None);
    }
}
