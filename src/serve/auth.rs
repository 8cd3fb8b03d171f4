//! The API token (made once in the home, `HOME/api-token`, 0600) and the check of every
//! request: bound beyond loopback, `Authorization: Bearer TOKEN` or 401. Whatever the
//! address, a request a browser sends from another origin is refused, and on loopback
//! the `Host` must name this machine (against DNS rebinding): no page elsewhere can drive
//! the API through a visitor's browser.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::{ApiError, App};

const FILE: &str = "api-token";

/// The cookie the console keeps the token in (`/?token=T` sets it).
pub const COOKIE: &str = "wf_token";

/// The token of the home, made on first use.
pub fn token(home: &Path) -> Result<String, String> {
    let path = home.join(FILE);
    let read = |p: &Path| -> Result<String, String> {
        let t = std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read the API token {}: {e}", p.display()))?;
        let t = t.trim().to_string();
        if t.len() < 32 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "the API token {} is not one wf wrote; remove it and a new one is made",
                p.display()
            ));
        }
        Ok(t)
    };
    if path.exists() {
        return read(&path);
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot make an API token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(format!("{token}\n").as_bytes())
                .map_err(|e| format!("cannot write the API token {}: {e}", path.display()))?;
            Ok(token)
        }
        // Another process made it meanwhile: that one is the token.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(format!(
            "cannot write the API token {}: {e}",
            path.display()
        )),
    }
}

/// Compares in time independent of where the texts differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The host part of a `Host` header or an origin's authority (no port, no brackets).
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

fn is_local_name(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The value of cookie `name`, if the request carries it.
fn cookie<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let host = header_str(h, header::HOST).unwrap_or("");
    if let Some(origin) = header_str(h, header::ORIGIN) {
        let authority = origin
            .split_once("://")
            .map(|(_, a)| a)
            .unwrap_or("")
            .trim_end_matches('/');
        if origin == "null" || !authority.eq_ignore_ascii_case(host) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "requests from another origin are refused",
            )
            .into_response();
        }
    }
    match &app.token {
        None => {
            if !host.is_empty() && !is_local_name(host_of(host)) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this server listens on loopback: address it as 127.0.0.1 or localhost",
                )
                .into_response();
            }
        }
        Some(token) => {
            // A browser opens the console once as `/?token=T`, which keeps it in a cookie.
            let from_query = (req.uri().path() == "/")
                .then(|| req.uri().query())
                .flatten()
                .and_then(|q| {
                    q.split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(k, _)| *k == "token")
                        .map(|(_, v)| v)
                });
            let given = header_str(h, header::AUTHORIZATION)
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .or_else(|| cookie(h, COOKIE))
                .or(from_query);
            if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this server needs `Authorization: Bearer TOKEN` (a browser opens the console once as /?token=TOKEN); `wf serve --show-token` prints the token",
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = token(dir.path()).unwrap();
        let b = token(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn hosts_and_comparisons() {
        assert_eq!(host_of("127.0.0.1:7878"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7878"), "::1");
        assert!(is_local_name("localhost"));
        assert!(is_local_name("::1"));
        assert!(!is_local_name("evil.example"));
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
