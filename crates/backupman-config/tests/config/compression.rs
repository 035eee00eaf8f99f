//! The `compression` section: each codec with its levels and threads, the defaults, the old
//! `level`-only form, and mistakes with their location.

use backupman_config::parse;
use backupman_core::{Codec, Compression, available_threads};

const HEAD: &str = "drives:\n  - provider: local\n    label: l\n    folder: /b\ndata_sources:\n  - provider: sqlite\n    label: s\n    db_path: /x.db\n";

fn load(section: &str) -> Compression {
    let text = format!("{HEAD}{section}");
    parse(&text, "config.yml", |_| None)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .compression
}

fn problems(section: &str) -> Vec<(usize, String, String)> {
    crate::common::problems_of(&format!("{HEAD}{section}"), |_| None)
}

#[test]
fn without_the_section_it_is_gzip_6_on_every_core() {
    let c = load("");
    assert_eq!(
        (c.codec(), c.level(), c.threads()),
        (Codec::Gzip, 6, available_threads())
    );
}

#[test]
fn each_codec_loads_with_its_default_level() {
    let c = load("compression: {codec: zstd}\n");
    assert_eq!((c.codec(), c.level()), (Codec::Zstd, 3));
    let c = load("compression:\n  codec: zstd\n  level: 19\n  threads: 2\n");
    assert_eq!((c.codec(), c.level(), c.threads()), (Codec::Zstd, 19, 2));
    let c = load("compression:\n  codec: GZIP\n  level: 1\n  threads: 1\n");
    assert_eq!((c.codec(), c.level(), c.threads()), (Codec::Gzip, 1, 1));
    assert_eq!(load("compression: {codec: none}\n").label(), "none");
}

#[test]
fn the_old_level_only_section_keeps_its_meaning() {
    let c = load("compression:\n  level: 9\n");
    assert_eq!((c.codec(), c.level()), (Codec::Gzip, 9));
    // Level 0 was how to store uncompressed.
    assert_eq!(load("compression:\n  level: 0\n").codec(), Codec::None);
}

#[test]
fn bad_codecs_levels_and_threads_are_located() {
    assert_eq!(
        problems("compression:\n  codec: lz4\n"),
        vec![(
            10,
            "compression.codec".into(),
            "unknown codec \"lz4\"".into()
        )]
    );
    assert_eq!(
        problems("compression:\n  codec: zstd\n  level: 22\n  threads: 0\n"),
        vec![
            (
                11,
                "compression.level".into(),
                "22 is not a zstd level".into()
            ),
            (
                12,
                "compression.threads".into(),
                "must be at least 1".into()
            ),
        ]
    );
    assert_eq!(
        problems("compression:\n  codec: gzip\n  level: 0\n"),
        vec![(
            11,
            "compression.level".into(),
            "0 is not a gzip level".into()
        )]
    );
    let typo = &problems("compression:\n  levle: 3\n")[0];
    assert_eq!(typo.0, 10);
    assert!(typo.2.contains("levle"), "{typo:?}");
}
