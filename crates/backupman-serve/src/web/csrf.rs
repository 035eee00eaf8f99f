//! Cross-site request checks for the page's forms (sign-in, sign-out, "Back up now"): the
//! browser's own word first (`Sec-Fetch-Site`, `Origin`), then the session's CSRF token. A
//! request that carries neither header (an old browser, a script) still needs the token;
//! the session cookie is `SameSite=Strict` as well, so another site's form arrives without it.

use axum::http::{HeaderMap, header};

/// The request says it came from this site, or says nothing of where it came from.
/// `own_origin` is `http.app_url`'s origin when set: behind a proxy, `Host` may be rewritten.
pub(crate) fn same_site(headers: &HeaderMap, own_origin: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none` is a navigation the user typed; a form POST never is one.
        if site.as_bytes() != b"same-origin" {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if own_origin.is_some_and(|own| own.eq_ignore_ascii_case(origin)) {
        return true;
    }
    // `null` (a sandboxed frame, a `data:` page) and any other site fail here.
    let Some((_scheme, host)) = origin.split_once("://") else {
        return false;
    };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(host))
}

/// The scheme, host and port of `url` (`https://backups.example.com`), for [`same_site`].
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_this_site_may_post() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_site(&headers(&[host]), None), "no word either way");
        assert!(same_site(
            &headers(&[
                host,
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            None
        ));
        assert!(!same_site(
            &headers(&[host, ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(!same_site(
            &headers(&[host, ("sec-fetch-site", "same-site")]),
            None
        ));
        assert!(!same_site(
            &headers(&[host, ("origin", "http://evil.example")]),
            None
        ));
        assert!(!same_site(&headers(&[host, ("origin", "null")]), None));
        // Behind a proxy: the configured app_url's origin.
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "https://backups.example.com"),
        ]);
        assert!(!same_site(&proxied, None));
        assert!(same_site(&proxied, Some("https://backups.example.com")));
        assert_eq!(
            origin_of("https://backups.example.com:8443/sub?x").as_deref(),
            Some("https://backups.example.com:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
