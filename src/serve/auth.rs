//! The API token (made once in the home, `HOME/api-token`, 0600) and the check of every
//! request: whatever the address bound, loopback too (other users of the machine reach
//! loopback as well), `Authorization: Bearer TOKEN`, the cookie `/?token=TOKEN` sets, or 401.
//! A request a browser sends from another origin (scheme, host and port) is refused, and on
//! loopback the `Host` must name this machine (against DNS rebinding): no page elsewhere can
//! drive the API through a visitor's browser.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::{ApiError, App};

const FILE: &str = "api-token";

/// The cookie the console keeps the token in (`/?token=T` sets it).
pub const COOKIE: &str = "wf_token";

/// Why the API token cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API token {} is not one wf wrote; remove it and a new one is made", path.display())]
    NotOurs { path: PathBuf },
    /// The token's file is not private to this user.
    #[error(transparent)]
    NotPrivate(std::io::Error),
    #[error("cannot make an API token: {0}")]
    Random(std::io::Error),
    #[error("cannot write the API token {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The token of the home, made on first use.
pub fn token(home: &Path) -> Result<String, TokenError> {
    let path = home.join(FILE);
    let read = |p: &Path| -> Result<String, TokenError> {
        let t = std::fs::read_to_string(p).map_err(|source| TokenError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        let t = t.trim().to_string();
        if t.len() < 32 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenError::NotOurs {
                path: p.to_path_buf(),
            });
        }
        Ok(t)
    };
    if path.exists() {
        crate::store::check_private(&path).map_err(TokenError::NotPrivate)?;
        return read(&path);
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(TokenError::Random)?;
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
                .map_err(|source| TokenError::Write {
                    path: path.clone(),
                    source,
                })?;
            Ok(token)
        }
        // Another process made it meanwhile: that one is the token.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            crate::store::check_private(&path).map_err(TokenError::NotPrivate)?;
            read(&path)
        }
        Err(source) => Err(TokenError::Write { path, source }),
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

/// The values of `name` in a query string, as given (a token is hex: nothing to decode).
fn query_values<'q>(query: Option<&'q str>, name: &str) -> Vec<&'q str> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
        .collect()
}

/// The token of `/?token=TOKEN`, if given; given more than once it is refused (400), so that
/// what is checked is what the cookie keeps.
pub fn query_token(query: Option<&str>) -> Result<Option<&str>, ApiError> {
    match query_values(query, "token").as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(ApiError::bad(
            "`token` is given more than once in the address; give it once: /?token=TOKEN",
        )),
    }
}

/// Whether a browser's `Origin` is this server's own: `http://` and the `Host` it asked
/// (this server speaks plain HTTP), or the origin of `--public-url` (a proxy in front).
fn own_origin(origin: &str, host: &str, public: Option<&str>) -> bool {
    if host.is_empty() || origin == "null" {
        return false;
    }
    let origin = origin.trim_end_matches('/');
    origin.eq_ignore_ascii_case(&format!("http://{host}"))
        || public.is_some_and(|p| origin.eq_ignore_ascii_case(p))
}

fn unauthorized(message: &'static str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let host = header_str(h, header::HOST).unwrap_or("");
    if let Some(origin) = header_str(h, header::ORIGIN) {
        if !own_origin(origin, host, app.public_origin.as_deref()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "requests from another origin are refused",
            )
            .into_response();
        }
    }
    if app.loopback && !host.is_empty() && !is_local_name(host_of(host)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this server listens on loopback: address it as 127.0.0.1 or localhost",
        )
        .into_response();
    }
    let right = |g: &str| same(g.as_bytes(), app.token.as_bytes());
    // A browser opens the console once as `/?token=T`, which keeps it in a cookie; a token in
    // the address must itself be right, whatever else the request carries.
    if req.uri().path() == "/" {
        match query_token(req.uri().query()) {
            Err(e) => return e.into_response(),
            Ok(Some(t)) if !right(t) => return unauthorized(
                "the token in the address is not this server's; `wf serve --show-token` prints it",
            ),
            Ok(Some(_)) => return next.run(req).await,
            Ok(None) => {}
        }
    }
    let given = header_str(h, header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .or_else(|| cookie(h, COOKIE));
    if !given.is_some_and(right) {
        return unauthorized(
            "this server needs its token: `Authorization: Bearer TOKEN`, or open the console once as /?token=TOKEN (`wf serve` prints that address; `wf serve --show-token` prints the token)",
        );
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

    #[test]
    fn a_token_given_twice_in_the_address_is_refused() {
        assert_eq!(query_token(Some("token=a")).unwrap(), Some("a"));
        assert_eq!(query_token(Some("x=1&token=a")).unwrap(), Some("a"));
        assert_eq!(query_token(None).unwrap(), None);
        assert!(query_token(Some("token=a&token=b")).is_err());
        assert!(query_token(Some("token=a&token=a")).is_err());
    }

    #[test]
    fn the_origin_must_match_scheme_host_and_port() {
        let h = "127.0.0.1:7878";
        assert!(own_origin("http://127.0.0.1:7878", h, None));
        assert!(!own_origin("https://127.0.0.1:7878", h, None));
        assert!(!own_origin("ws://127.0.0.1:7878", h, None));
        assert!(!own_origin("http://127.0.0.1:7879", h, None));
        assert!(!own_origin("null", h, None));
        assert!(!own_origin("http://127.0.0.1:7878", "", None));
        let public = Some("https://wf.example.org");
        assert!(own_origin(
            "https://wf.example.org",
            "10.0.0.5:7878",
            public
        ));
        assert!(!own_origin(
            "http://wf.example.org",
            "10.0.0.5:7878",
            public
        ));
    }
}
