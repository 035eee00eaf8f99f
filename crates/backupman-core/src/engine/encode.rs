//! The engine's encoder for each codec, behind one face: plain bytes in, compressed bytes
//! out in order, the compressing done on worker threads so that reading the dump, hashing
//! and fanning out overlap with it.

use std::io::{self, Write};

use super::pgzip::ParallelGzip;
use crate::codec::{Codec, Compression};

/// zstd's job size on its worker threads: smaller than its default (4 × the window, 8 MiB at
/// level 3) so that memory stays near 2 × threads × this, at a cost in size under 1 %.
const ZSTD_JOB: u32 = 2 * 1024 * 1024;

pub(super) enum Encoder {
    Gzip(ParallelGzip),
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
    Plain(Vec<u8>),
}

impl Encoder {
    pub(super) fn new(compression: Compression) -> io::Result<Self> {
        Ok(match compression.codec() {
            Codec::Zstd => {
                let level = i32::try_from(compression.level()).unwrap_or(3);
                let mut zstd = zstd::stream::write::Encoder::new(Vec::new(), level)?;
                let threads = u32::try_from(compression.threads()).unwrap_or(1);
                zstd.multithread(threads)?;
                zstd.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
                // `zstd -d` then checks the content itself, as `gunzip` checks gzip's CRC.
                zstd.include_checksum(true)?;
                Encoder::Zstd(Box::new(zstd))
            }
            Codec::None => Encoder::Plain(Vec::new()),
            _ => Encoder::Gzip(ParallelGzip::new(
                compression.level(),
                compression.threads(),
            )?),
        })
    }

    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(gzip) => gzip.write(data),
            Encoder::Zstd(zstd) => zstd.write_all(data),
            Encoder::Plain(out) => {
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// The output ready so far.
    pub(super) fn take(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(gzip) => gzip.take(),
            Encoder::Zstd(zstd) => Ok(std::mem::take(zstd.get_mut())),
            Encoder::Plain(out) => Ok(std::mem::take(out)),
        }
    }

    /// The rest of the output, once the input has ended.
    pub(super) fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(gzip) => gzip.finish(),
            Encoder::Zstd(zstd) => zstd.finish(),
            Encoder::Plain(out) => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::compress::decoder;

    /// Rows like an application's: ids, paths, user agents and hex tokens, which compress
    /// about 4:1 as real dumps do (a repeated line would say nothing about block joins).
    fn rows(bytes: usize) -> Vec<u8> {
        let agents = [
            "Mozilla/5.0 (X11; Linux x86_64)",
            "curl/8.5.0",
            "okhttp/4.12.0",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::with_capacity(bytes + 200);
        let mut id = 0u64;
        while out.len() < bytes {
            id += 1;
            let r = next();
            writeln!(
                out,
                "{id}\t/app/users/{}/files/{}.pdf\t{}\t{:08x}\t2026-11-{:02} 03:{:02}:00+00\tactive",
                r % 5000,
                (r >> 40) % 100_000,
                agents[(r % 3) as usize],
                next() as u32,
                1 + r % 28,
                r % 60
            )
            .unwrap();
        }
        out
    }

    fn encode(compression: Compression, plain: &[u8]) -> Vec<u8> {
        let mut encoder = Encoder::new(compression).unwrap();
        let mut out = Vec::new();
        // Odd write sizes, so blocks never line up with writes.
        for piece in plain.chunks(100_003) {
            encoder.write(piece).unwrap();
            out.extend(encoder.take().unwrap());
        }
        out.extend(encoder.finish().unwrap());
        out
    }

    fn decode(stored: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        decoder(stored).unwrap().read_to_end(&mut plain).unwrap();
        plain
    }

    /// `tool args` with `input` on stdin, its stdout.
    fn run_tool(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} must be installed (cargo xtask provision): {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success(), "{tool} {args:?} failed");
        output.stdout
    }

    #[test]
    fn parallel_gzip_is_plain_gzip_within_two_percent_of_one_stream() {
        let plain = rows(6 << 20);
        for (level, threads) in [(6, 2), (1, 3), (9, 1)] {
            let stored = encode(Compression::new(Codec::Gzip, level, threads), &plain);
            assert_eq!(decode(&stored), plain);
            assert_eq!(run_tool("gunzip", &["-c"], &stored), plain);
            let mut single =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            single.write_all(&plain).unwrap();
            let single = single.finish().unwrap().len() as f64;
            let ratio = stored.len() as f64 / single;
            assert!(
                ratio < 1.02,
                "level {level}: {} vs {single} bytes",
                stored.len()
            );
            let compressed_4_to_1 = (3.0..6.0).contains(&(plain.len() as f64 / single));
            assert!(
                compressed_4_to_1,
                "the test rows should compress like real data"
            );
        }
    }

    #[test]
    fn zstd_is_read_by_zstd_and_plain_is_unchanged() {
        let plain = rows(5 << 20);
        let stored = encode(Compression::new(Codec::Zstd, 3, 2), &plain);
        assert!(stored.len() * 3 < plain.len());
        assert_eq!(decode(&stored), plain);
        assert_eq!(run_tool("zstd", &["-dc"], &stored), plain);
        let stored = encode(Compression::new(Codec::None, 0, 2), &plain);
        assert_eq!(stored, plain);
        assert_eq!(decode(&stored), plain);
    }

    #[test]
    fn empty_and_tiny_dumps_round_trip_in_every_codec() {
        for codec in Codec::ALL {
            for plain in [&b""[..], b"x", &rows(200_000)] {
                let stored = encode(Compression::default_for(codec), plain);
                assert_eq!(decode(&stored), plain, "{codec}");
            }
        }
        assert_eq!(
            run_tool("gunzip", &["-c"], &encode(Compression::default(), b"")),
            b""
        );
    }
}
