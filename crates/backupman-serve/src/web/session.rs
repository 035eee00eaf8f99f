//! Sign-in sessions and the slowing of failed sign-ins, in memory (a restart signs everyone
//! out). A session id is 32 random bytes in an `HttpOnly`, `SameSite=Strict` cookie; the
//! server keeps only its SHA-256, so the table holds no usable secret. Each session has its
//! own CSRF token, which every state-changing form carries. Both tables are bounded: a flood
//! of sign-ins or of failing clients cannot grow the memory without end.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use backupman_core::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "backupman_session";
/// How long a session lasts from sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most: past it, expired ones go, then the oldest.
const MAX_SESSIONS: usize = 10_000;
/// Client addresses whose failures are remembered at most.
const MAX_CLIENTS: usize = 4096;
/// Failed sign-ins a client gets before it must wait between attempts.
const FREE_FAILURES: u32 = 3;
/// The longest wait imposed between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// A client's failures are forgotten this long after its last one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// A signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token its forms carry.
    pub csrf: Secret,
    expires: Instant,
}

impl Session {
    /// `given` is this session's CSRF token (compared in constant time).
    pub(crate) fn csrf_matches(&self, given: &str) -> bool {
        self.csrf.expose().as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// What a sign-in attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Check the key.
    Allowed,
    /// Too many failures from this address: try again after this long (the key is not
    /// even looked at).
    Wait(Duration),
}

/// The sessions and the failed sign-ins.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By SHA-256 of the session id.
    sessions: HashMap<[u8; 32], Session>,
    failures: HashMap<IpAddr, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// How long after the last failure the next attempt waits: nothing for the first few,
    /// then doubling up to [`MAX_WAIT`].
    fn wait(self) -> Duration {
        if self.count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (self.count - FREE_FAILURES).min(6);
        Duration::from_secs(1 << doublings).min(MAX_WAIT)
    }
}

/// Random bytes failed (no entropy source): nothing secret can be made.
#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed: {0}")]
pub(crate) struct NoRandom(getrandom::Error);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change is one insert or remove: a panic cannot leave a table half-changed.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `client` may try a key now.
    pub(crate) fn attempt(&self, client: IpAddr, now: Instant) -> Attempt {
        let inner = self.lock();
        match inner.failures.get(&client) {
            Some(f) if now < f.last + f.wait() => Attempt::Wait(f.last + f.wait() - now),
            _ => Attempt::Allowed,
        }
    }

    /// `client` gave a wrong key.
    pub(crate) fn failed(&self, client: IpAddr, now: Instant) {
        let mut inner = self.lock();
        if inner.failures.len() >= MAX_CLIENTS && !inner.failures.contains_key(&client) {
            inner
                .failures
                .retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if inner.failures.len() >= MAX_CLIENTS
                && let Some(oldest) = inner.failures.iter().min_by_key(|(_, f)| f.last)
            {
                let oldest = *oldest.0;
                inner.failures.remove(&oldest);
            }
        }
        let entry = inner.failures.entry(client).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// Signs a browser in (`client` gave a right key): its failures are forgotten. The new
    /// session's id, for the cookie.
    pub(crate) fn start(&self, client: IpAddr, now: Instant) -> Result<Secret, NoRandom> {
        let id = random_hex()?;
        let session = Session {
            csrf: random_hex()?,
            expires: now + LIFETIME,
        };
        let mut inner = self.lock();
        inner.failures.remove(&client);
        if inner.sessions.len() >= MAX_SESSIONS {
            inner.sessions.retain(|_, s| s.expires > now);
            if inner.sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = inner.sessions.iter().min_by_key(|(_, s)| s.expires)
            {
                let oldest = *oldest.0;
                inner.sessions.remove(&oldest);
            }
        }
        inner.sessions.insert(digest(id.expose()), session);
        Ok(id)
    }

    /// The live session the request's cookie names.
    pub(crate) fn find(&self, headers: &HeaderMap, now: Instant) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let key = digest(id);
        let mut inner = self.lock();
        match inner.sessions.get(&key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                inner.sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session the request's cookie names.
    pub(crate) fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.lock().sessions.remove(&digest(id));
        }
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 32 random bytes, hex.
fn random_hex() -> Result<Secret, NoRandom> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NoRandom)?;
    Ok(Secret::new(hex::encode(bytes)))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value that stores session `id` (`secure` behind HTTPS), or with `None`
/// the one that deletes it.
pub(crate) fn set_cookie(id: Option<&Secret>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match id {
        Some(id) => format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            id.expose(),
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    // Hex and fixed text only: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_expires_or_ends() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let id = sessions.start(client, now).unwrap();
        assert_eq!(id.expose().len(), 64);
        let headers = with_cookie(&format!("other=1; {COOKIE}={}", id.expose()));
        let found = sessions.find(&headers, now).unwrap();
        let csrf = found.csrf.expose().to_owned();
        assert_eq!(csrf.len(), 64);
        assert_ne!(csrf, id.expose());
        assert!(found.csrf_matches(&csrf));
        assert!(!found.csrf_matches(""));
        assert!(!found.csrf_matches(&csrf[..63]));
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}=x")), now)
                .is_none()
        );
        assert!(sessions.find(&headers, now + LIFETIME).is_none(), "expired");
        // Expired is gone for good.
        assert!(sessions.find(&headers, now).is_none());
        let again = sessions.start(client, now).unwrap();
        let headers = with_cookie(&format!("{COOKIE}={}", again.expose()));
        let session = sessions.find(&headers, now).unwrap();
        // Nothing secret in a debug print.
        assert!(!format!("{again:?} {session:?}").contains(again.expose()));
        assert!(!format!("{session:?}").contains(session.csrf.expose()));
        sessions.end(&headers);
        assert!(sessions.find(&headers, now).is_none(), "signed out");
    }

    #[test]
    fn repeated_failures_wait_longer_and_a_success_forgets_them() {
        let sessions = Sessions::default();
        let t = Instant::now();
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            sessions.failed(client, t);
            assert_eq!(sessions.attempt(client, t), Attempt::Allowed);
        }
        sessions.failed(client, t);
        assert_eq!(
            sessions.attempt(client, t),
            Attempt::Wait(Duration::from_secs(1))
        );
        assert_eq!(sessions.attempt(other, t), Attempt::Allowed);
        let t2 = t + Duration::from_secs(1);
        assert_eq!(sessions.attempt(client, t2), Attempt::Allowed);
        sessions.failed(client, t2);
        assert_eq!(
            sessions.attempt(client, t2),
            Attempt::Wait(Duration::from_secs(2))
        );
        for _ in 0..20 {
            sessions.failed(client, t2);
        }
        assert_eq!(sessions.attempt(client, t2), Attempt::Wait(MAX_WAIT));
        sessions.start(client, t2).unwrap();
        assert_eq!(sessions.attempt(client, t2), Attempt::Allowed);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let sessions = Sessions::default();
        let t = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            sessions.failed(IpAddr::from(i.to_be_bytes()), t);
        }
        assert_eq!(sessions.lock().failures.len(), MAX_CLIENTS);
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.start(client, t).unwrap();
        }
        assert_eq!(sessions.lock().sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_say_how_they_may_travel() {
        let id = Secret::new("ab");
        assert_eq!(
            set_cookie(Some(&id), true),
            "backupman_session=ab; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure"
        );
        assert_eq!(
            set_cookie(None, false),
            "backupman_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }
}
