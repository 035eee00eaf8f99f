//! The status page at `/`: server-side HTML from the in-memory catalog, runs, schedule and
//! last health check; no script at all (a page reloads itself with `<meta refresh>` while a
//! run goes on), charts drawn as SVG on the server, one embedded stylesheet. Every response
//! carries a `Content-Security-Policy` that allows nothing but this server's own stylesheet
//! and images, so the page makes no request elsewhere.
//!
//! Reading and acting need a session: a sign-in form takes one of `http.api_keys`
//! (compared as `X-Api-Key` is), failed attempts from one address are slowed, and the
//! session cookie is `HttpOnly`, `SameSite=Strict` and `Secure` behind HTTPS. Every form
//! that changes something carries the session's CSRF token and is refused when the browser
//! says it came from another site. Downloads go through the signed links of the API.

mod chart;
mod csrf;
mod facts;
mod format;
mod overview;
mod page;
mod session;
mod source;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{TimeDelta, Utc};
use serde::Deserialize;

use crate::runs::{self, NotStarted, Which};
use crate::service::Service;
use facts::Facts;
use session::{Attempt, Session};

/// The page's stylesheet, in the binary.
const STYLE: &str = include_str!("style.css");
/// The page's icon.
const ICON: &str = include_str!("icon.svg");

/// Only this server's stylesheet and images; no script, no frames, forms only to itself.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                              form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page's state in the service: sessions, and the records of the catalog last shown.
#[derive(Debug, Default)]
pub(crate) struct Web {
    sessions: session::Sessions,
    records: facts::RecordCache,
}

impl Web {
    fn records(
        &self,
        catalog: &Arc<backupman_ops::catalog::Catalog>,
    ) -> Arc<Vec<backupman_ops::record::BackupRecord>> {
        self.records.records(catalog)
    }
}

/// The page's routes, to merge into the service's router.
pub(crate) fn router() -> Router<Arc<Service>> {
    Router::new()
        .route("/", get(main_page))
        .route("/source", get(source_page))
        .route("/signin", get(sign_in_form).post(sign_in))
        .route("/signout", post(sign_out))
        .route("/run", post(run_now))
        .route("/download/{id}", get(download))
        .route("/static/style.css", get(style))
        .route("/static/icon.svg", get(icon))
        .layer(map_response(protect))
}

/// The headers every page and asset carries.
async fn protect(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with a form's POST, and
    // the same-site check could no longer tell this site's forms from another's.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn to_sign_in() -> Response {
    Redirect::to("/signin").into_response()
}

fn session(service: &Service, headers: &HeaderMap) -> Option<Session> {
    service.web.sessions.find(headers, Instant::now())
}

/// The session and what the pages show; `None` when signed out.
async fn reading(service: &Service, headers: &HeaderMap) -> Option<(Session, Facts)> {
    let session = session(service, headers)?;
    Some((session, Facts::gather(service).await))
}

/// A notice after an action, named in the query so a reload keeps it and no text is
/// taken from the URL.
#[derive(Debug, Deserialize)]
struct MainQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "started" => ("good", "Backup started."),
        "busy" => (
            "bad",
            "Not started: a backup of that source is already running.",
        ),
        "stopping" => ("bad", "Not started: the server is shutting down."),
        "signed-in" => ("good", "Signed in."),
        _ => return None,
    })
}

async fn main_page(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(query): Query<MainQuery>,
) -> Response {
    let Some((session, facts)) = reading(&service, &headers).await else {
        return to_sign_in();
    };
    let notice = query.notice.as_deref().and_then(notice_text);
    html(
        StatusCode::OK,
        overview::render(&service.config, &facts, session.csrf.expose(), notice),
    )
}

#[derive(Debug, Deserialize)]
struct SourceQuery {
    label: String,
    #[serde(default)]
    skip: usize,
    notice: Option<String>,
}

async fn source_page(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Query(query): Query<SourceQuery>,
) -> Response {
    let Some((session, facts)) = reading(&service, &headers).await else {
        return to_sign_in();
    };
    match source::render(
        &service.config,
        &facts,
        session.csrf.expose(),
        &query.label,
        query.skip,
        query.notice.as_deref().and_then(notice_text),
    ) {
        Some(page) => html(StatusCode::OK, page),
        None => html(
            StatusCode::NOT_FOUND,
            page::page(
                "Not found",
                Some(session.csrf.expose()),
                false,
                &format!(
                    "<h1>No such source</h1><p>No configured source is labelled “{}”. <a href=\"/\">All backups</a></p>",
                    format::Esc(&query.label)
                ),
            ),
        ),
    }
}

async fn sign_in_form(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if session(&service, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    html(StatusCode::OK, page::sign_in(None))
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn { key: [redacted] }")
    }
}

/// Whether cookies must be `Secure`: the server is reached over HTTPS (`http.app_url`, or
/// the proxy in front says so).
fn over_https(service: &Service, headers: &HeaderMap) -> bool {
    service.base_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn own_origin(service: &Service) -> Option<String> {
    service
        .config
        .http
        .app_url
        .as_deref()
        .and_then(csrf::origin_of)
}

fn cross_site() -> Response {
    html(
        StatusCode::FORBIDDEN,
        page::page(
            "Refused",
            None,
            false,
            "<h1>Refused</h1><p>This form did not come from this page, or the page was too old. \
             <a href=\"/\">Open the status page</a> and try again.</p>",
        ),
    )
}

async fn sign_in(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !csrf::same_site(&headers, own_origin(&service).as_deref()) {
        return cross_site();
    }
    let now = Instant::now();
    let client = peer.ip();
    if let Attempt::Wait(wait) = service.web.sessions.attempt(client, now) {
        let seconds = wait.as_secs().max(1);
        let mut response = html(
            StatusCode::TOO_MANY_REQUESTS,
            page::sign_in(Some(&format!(
                "Too many failed sign-ins from your address: wait {seconds} s, then try again."
            ))),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    if !service.keys.accepts_key(form.key.as_bytes()) {
        service.web.sessions.failed(client, now);
        // Which key, or which part of it, is never said.
        return html(
            StatusCode::UNAUTHORIZED,
            page::sign_in(Some("That key is not accepted.")),
        );
    }
    let id = match service.web.sessions.start(client, now) {
        Ok(id) => id,
        Err(err) => {
            tracing::error!("sign-in: {err}");
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                page::sign_in(Some("The server cannot make a session: its log says why.")),
            );
        }
    };
    let mut response = Redirect::to("/?notice=signed-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(Some(&id), over_https(&service, &headers)),
    );
    response
}

/// A form that changes something: its CSRF token.
#[derive(Debug, Deserialize)]
struct Action {
    #[serde(default)]
    csrf: String,
    /// For "Back up now": one source, or every one when left out.
    source: Option<String>,
}

/// Why a form was not acted on.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// No session: sign in first.
    SignedOut,
    /// From another site, or without the session's token.
    CrossSite,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut => to_sign_in(),
            Self::CrossSite => cross_site(),
        }
    }
}

/// The session, when the form came from this site and carries its token.
fn checked(service: &Service, headers: &HeaderMap, form: &Action) -> Result<Session, Refused> {
    if !csrf::same_site(headers, own_origin(service).as_deref()) {
        return Err(Refused::CrossSite);
    }
    let session = session(service, headers).ok_or(Refused::SignedOut)?;
    if !session.csrf_matches(&form.csrf) {
        return Err(Refused::CrossSite);
    }
    Ok(session)
}

async fn sign_out(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    if let Err(refused) = checked(&service, &headers, &form) {
        return refused.into_response();
    }
    service.web.sessions.end(&headers);
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(None, over_https(&service, &headers)),
    );
    response
}

async fn run_now(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    if let Err(refused) = checked(&service, &headers, &form) {
        return refused.into_response();
    }
    let (which, back) = match &form.source {
        Some(label) if service.config.sources.iter().any(|s| &s.label == label) => (
            Which::Sources(vec![label.clone()]),
            format!("/source?label={}&", format::query_value(label)),
        ),
        Some(_) => {
            return (StatusCode::NOT_FOUND, "no configured source has that label").into_response();
        }
        None => (Which::All, "/?".to_owned()),
    };
    let notice = match runs::start(&service, "the status page", which) {
        Ok(()) => "started",
        Err(NotStarted::Busy) => "busy",
        Err(NotStarted::Stopping) => "stopping",
    };
    Redirect::to(&format!("{back}notice={notice}")).into_response()
}

/// A stored copy, by its drive file id: a redirect to the API's signed link, fresh, so a
/// page left open for hours still downloads.
async fn download(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if session(&service, &headers).is_none() {
        return to_sign_in();
    }
    // Ids are hex (a hash): anything else names no copy, and must not reach a header.
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::NOT_FOUND, "no stored backup copy has that id").into_response();
    }
    let minutes = i64::from(service.config.http.download_url_minutes);
    let expires = (Utc::now() + TimeDelta::minutes(minutes)).timestamp();
    Redirect::to(&service.links.path(&id, expires)).into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        ICON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::STYLE;

    /// The `--name: #rrggbb;` colours of the stylesheet's light block (the first) or its
    /// dark block (inside `prefers-color-scheme: dark`).
    fn palette(dark: bool) -> Vec<(String, [f64; 3])> {
        let start = STYLE.find("prefers-color-scheme: dark").unwrap();
        let block = if dark {
            &STYLE[start..]
        } else {
            &STYLE[..start]
        };
        let block = &block[..block.find("}\n").unwrap()];
        block
            .lines()
            .filter_map(|l| {
                let (name, value) = l.trim().strip_prefix("--")?.split_once(": #")?;
                let hex = value.trim_end_matches(';');
                let channel =
                    |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                Some((name.to_owned(), [channel(0), channel(2), channel(4)]))
            })
            .collect()
    }

    /// WCAG 2's contrast ratio.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let luminance = |c: [f64; 3]| {
            let f = |v: f64| {
                if v <= 0.039_28 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2])
        };
        let (hi, lo) = {
            let (x, y) = (luminance(a), luminance(b));
            if x > y { (x, y) } else { (y, x) }
        };
        (hi + 0.05) / (lo + 0.05)
    }

    #[test]
    fn every_colour_pair_passes_wcag_aa_in_light_and_dark() {
        // Text on its background: 4.5:1; the focus ring and chart lines: 3:1 (non-text).
        let text = [
            ("text", "bg"),
            ("text", "panel"),
            ("muted", "bg"),
            ("muted", "panel"),
            ("link", "bg"),
            ("link", "panel"),
            ("accent-text", "accent"),
            ("good", "good-bg"),
            ("amber", "amber-bg"),
            ("bad", "bad-bg"),
            ("run", "run-bg"),
            ("bad", "panel"),
        ];
        let graphics = [
            ("chart-size", "panel"),
            ("chart-time", "panel"),
            ("focus", "bg"),
        ];
        for dark in [false, true] {
            let colours = palette(dark);
            assert!(colours.len() >= 18, "{colours:?}");
            let get = |name: &str| {
                colours
                    .iter()
                    .find(|(n, _)| n == name)
                    .unwrap_or_else(|| panic!("--{name}"))
                    .1
            };
            for (minimum, pairs) in [(4.5, &text[..]), (3.0, &graphics[..])] {
                for (fg, bg) in pairs {
                    let ratio = contrast(get(fg), get(bg));
                    assert!(ratio >= minimum, "{fg} on {bg} (dark: {dark}): {ratio:.2}");
                }
            }
        }
    }
}
