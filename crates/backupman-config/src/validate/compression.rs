//! The `compression` section: a codec, a level valid for it and the compressing threads. The
//! codecs' names and level ranges are core's ([`Codec`]), so the engine and this check
//! cannot disagree.

use backupman_core::{Codec, Compression, available_threads};
use serde_saphyr::Spanned;

use super::Checker;
use crate::raw::RawCompression;

pub(super) fn compression(c: &mut Checker, raw: Option<&Spanned<RawCompression>>) -> Compression {
    let Some(raw) = raw.map(|r| &r.value) else {
        return Compression::default();
    };
    let named = raw
        .codec
        .as_ref()
        .map(|n| (n, n.value.trim().to_ascii_lowercase()));
    let codec = match &named {
        None => None,
        Some((at, name)) => match Codec::from_name(name) {
            Some(codec) => Some(codec),
            None => {
                c.problem(
                    at.referenced,
                    "compression.codec".into(),
                    format!("unknown codec {:?}", at.value),
                    Some("use gzip (the default), zstd or none"),
                );
                None
            }
        },
    };
    let level = raw.level.as_ref();
    // Before codecs, `level: 0` was how to store dumps uncompressed.
    let codec = match (codec, level) {
        (None, Some(l)) if l.value == 0 && named.is_none() => Codec::None,
        (codec, _) => codec.unwrap_or_default(),
    };
    let level = match level {
        Some(l) if codec != Codec::None && !codec.levels().contains(&l.value) => {
            let levels = codec.levels();
            c.problem(
                l.referenced,
                "compression.level".into(),
                format!("{} is not a {codec} level", l.value),
                Some(&format!(
                    "use {} (fastest) to {} (smallest); {} is the default",
                    levels.start(),
                    levels.end(),
                    codec.default_level()
                )),
            );
            codec.default_level()
        }
        Some(l) => l.value,
        None => codec.default_level(),
    };
    let threads = match &raw.threads {
        Some(t) if t.value == 0 => {
            c.problem(
                t.referenced,
                "compression.threads".into(),
                "must be at least 1",
                Some("leave it out to use every available core"),
            );
            available_threads()
        }
        Some(t) => usize::try_from(t.value).unwrap_or(usize::MAX),
        None => available_threads(),
    };
    Compression::new(codec, level, threads)
}
