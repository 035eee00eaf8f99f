//! Text for the page: HTML escaping (labels, keys, errors and manifests come from a
//! configuration or a drive, a stranger's input), sizes, durations, ages and times.

use std::fmt::{self, Display, Write};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// Text escaped for HTML, in element content and in quoted attribute values alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// `text` as a URL query value (`label=...`), then escaped for the attribute it goes in.
pub(crate) fn query_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Bytes in binary units, three significant digits: `812 B`, `1.46 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Precision lost above 2^53 bytes does not show in three digits.
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {}", UNITS[unit])
}

/// A duration in the two largest units that matter: `0.4 s`, `12 s`, `3 min 4 s`, `2 h 5 min`,
/// `3 d 4 h`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    if seconds < 10.0 {
        return format!("{seconds:.1} s");
    }
    // Rounded to whole seconds: the fraction does not matter past ten.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// Seconds of `d`, as a float.
pub(crate) fn seconds(d: TimeDelta) -> f64 {
    // Milliseconds are exact in an f64 for any age a backup can have.
    #[allow(clippy::cast_precision_loss)]
    let ms = d.num_milliseconds() as f64;
    ms / 1000.0
}

/// How long ago `then` was (`just now`, `5 min ago`); a time after `now` (a clock that
/// moved, a planted manifest) says so instead of a negative age.
pub(crate) fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - then;
    if d < TimeDelta::zero() {
        return format!("{} from now", duration(seconds(-d)));
    }
    if d < TimeDelta::seconds(10) {
        return "just now".to_owned();
    }
    format!("{} ago", duration(seconds(d)))
}

/// When `to` comes, from `now`: `in 5 min`, or `due` once passed.
pub(crate) fn until(to: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = to - now;
    if d <= TimeDelta::zero() {
        "due now".to_owned()
    } else {
        format!("in {}", duration(seconds(d)))
    }
}

/// Writes `t` as a `<time>` in the configured time zone, UTC in its `title` (shown on
/// hover) and in `datetime`.
pub(crate) fn time(out: &mut String, t: DateTime<Utc>, tz: Tz) {
    let utc = t.format("%Y-%m-%dT%H:%M:%SZ");
    // Minutes are enough to read; the title has the second.
    let local = t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
    let _ = write!(
        out,
        "<time datetime=\"{utc}\" title=\"{utc} (UTC)\">{local}</time>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_html_means_is_escaped() {
        assert_eq!(
            Esc("<script>alert('x' & \"y\")</script>").to_string(),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(Esc("plain été").to_string(), "plain été");
        assert_eq!(query_value("a b/&c"), "a%20b%2F%26c");
    }

    #[test]
    fn sizes_durations_and_ages_read_as_a_person_says_them() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(150 * 1024 * 1024), "150 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(duration(0.42), "0.4 s");
        assert_eq!(duration(184.0), "3 min 4 s");
        assert_eq!(duration(7500.0), "2 h 5 min");
        assert_eq!(duration(-1.0), "?");
        let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
        assert_eq!(ago(now - TimeDelta::minutes(5), now), "5 min 0 s ago");
        assert_eq!(ago(now + TimeDelta::hours(2), now), "2 h 0 min from now");
        assert_eq!(until(now + TimeDelta::seconds(30), now), "in 30 s");
        assert_eq!(until(now, now), "due now");
        let mut out = String::new();
        time(&mut out, now, chrono_tz::Europe::Paris);
        assert_eq!(
            out,
            "<time datetime=\"2026-12-06T12:00:00Z\" title=\"2026-12-06T12:00:00Z (UTC)\">2026-12-06 13:00 CET</time>"
        );
    }
}
