//! The frame every page shares: the document head (stylesheet, viewport, colour schemes),
//! a skip link, the header with sign-out, and the forms that change state, each carrying
//! the session's CSRF token.

use std::fmt::Write;

use super::format::Esc;

/// Seconds between reloads while a run is going on: the page shows its progress without
/// script.
pub(crate) const REFRESH_SECONDS: u32 = 2;

/// A whole page. `csrf` is the session's token (signed in: the header has sign-out);
/// `refresh` reloads it every [`REFRESH_SECONDS`].
pub(crate) fn page(title: &str, csrf: Option<&str>, refresh: bool, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    out.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         ",
    );
    if refresh {
        let _ = write!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        );
    }
    let _ = write!(
        out,
        "<title>{} · backupman</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\">\
         <link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\
         </head><body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/\">backupman</a>",
        Esc(title)
    );
    if let Some(csrf) = csrf {
        out.push_str("<form method=\"post\" action=\"/signout\" class=\"signout\">");
        csrf_field(&mut out, csrf);
        out.push_str("<button type=\"submit\" class=\"quiet\">Sign out</button></form>");
    }
    out.push_str("</header><main id=\"main\">");
    out.push_str(body);
    out.push_str("</main></body></html>\n");
    out
}

/// The hidden field with the session's CSRF token.
pub(crate) fn csrf_field(out: &mut String, csrf: &str) {
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        Esc(csrf)
    );
}

/// The "Back up now" form: every source, or the one labelled `source`.
pub(crate) fn run_form(out: &mut String, csrf: &str, source: Option<&str>, disabled: bool) {
    out.push_str("<form method=\"post\" action=\"/run\" class=\"run\">");
    csrf_field(out, csrf);
    let disabled = if disabled { " disabled" } else { "" };
    match source {
        Some(label) => {
            let _ = write!(
                out,
                "<input type=\"hidden\" name=\"source\" value=\"{0}\">\
                 <button type=\"submit\" aria-label=\"Back up {0} now\"{disabled}>Back up now</button>",
                Esc(label)
            );
        }
        None => {
            let _ = write!(
                out,
                "<button type=\"submit\" class=\"primary\"{disabled}>Back up every source now</button>"
            );
        }
    }
    out.push_str("</form>");
}

/// A message after an action (`role=status`: read out by screen readers).
pub(crate) fn notice(out: &mut String, kind: &str, text: &str) {
    let _ = write!(
        out,
        "<p class=\"notice {kind}\" role=\"status\">{}</p>",
        Esc(text)
    );
}

/// The sign-in page; `problem` says why the last attempt was refused.
pub(crate) fn sign_in(problem: Option<&str>) -> String {
    let mut body = String::from(
        "<section class=\"signin\"><h1>Sign in</h1>\
         <p>Give one of the API keys from <code>http.api_keys</code>. The browser keeps a \
         session for 12 hours.</p>",
    );
    if let Some(problem) = problem {
        notice(&mut body, "bad", problem);
    }
    body.push_str(
        "<form method=\"post\" action=\"/signin\">\
         <label for=\"key\">API key</label>\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\" class=\"primary\">Sign in</button></form></section>",
    );
    page("Sign in", None, false, &body)
}
