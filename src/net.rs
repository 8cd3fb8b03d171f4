//! HTTP clients: TLS through rustls on the `ring` provider, installed once per process, and
//! the one request the command line and the batch step send to a model on 127.0.0.1.

use std::time::Duration;

/// Makes `ring` the process's TLS provider. reqwest refuses to build a client before one is
/// installed, so every process that may build one calls this first (`cli::main` does);
/// calling it again does nothing.
pub fn install_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when another provider is already installed: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for a server on this machine: no proxy, and at most `read_timeout` between two
/// reads of an answer when given.
pub fn local_client(read_timeout: Option<Duration>) -> std::io::Result<reqwest::Client> {
    install_tls();
    let mut b = reqwest::Client::builder().no_proxy();
    if let Some(t) = read_timeout {
        b = b.read_timeout(t);
    }
    b.build().map_err(io_error)
}

/// One POST of `body` as `content_type` to `url`, with the extra `headers`: the answer's
/// status and whole body, whatever its framing (length, chunks or the connection's end).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.map_err(io_error)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(io_error)?;
    Ok((status, bytes.to_vec()))
}

/// A client's error as the operating system's when it is one underneath ("Connection
/// refused (os error 111)", as a plain socket says it), else as its innermost cause.
pub fn io_error(e: reqwest::Error) -> std::io::Error {
    let timed_out = e.is_timeout();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut innermost = e.to_string();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return std::io::Error::new(io.kind(), io.to_string());
        }
        innermost = s.to_string();
        source = s.source();
    }
    let kind = if timed_out {
        std::io::ErrorKind::TimedOut
    } else {
        std::io::ErrorKind::Other
    };
    std::io::Error::new(kind, innermost)
}

/// What is wrong with `url` as an address `wf` calls (a webhook, the console's link): it
/// must be http:// or https://, with a host. `None` when it is fine.
pub fn url_problem(url: &str) -> Option<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Some(format!("`{url}` is not an http:// or https:// URL"));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => None,
        Ok(_) => Some(format!("`{url}` names no host")),
        Err(e) => Some(format!("`{url}` is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server that answers one request with `answer`, as written, then closes.
    fn serve_once(answer: &'static [u8]) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the announced body before answering.
            loop {
                let n = s.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(answer).unwrap();
        });
        port
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_chunked_answer_is_read_whole() {
        let port = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\": 1\r\n1\r\n}\r\n0\r\n\r\n",
        );
        let client = local_client(Some(Duration::from_secs(20))).unwrap();
        let (status, body) = rt()
            .block_on(post(
                &client,
                &format!("http://127.0.0.1:{port}/"),
                "application/json",
                &[("X-Apig-AppCode", "code")],
                b"{}".to_vec(),
            ))
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8(body).unwrap(), "{\"a\": 1}");
    }

    #[test]
    fn an_error_status_comes_back_with_its_body() {
        let port = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 7\r\nConnection: close\r\n\r\nloading",
        );
        let client = local_client(None).unwrap();
        let (status, body) = rt()
            .block_on(post(
                &client,
                &format!("http://127.0.0.1:{port}/"),
                "application/json",
                &[],
                Vec::new(),
            ))
            .unwrap();
        assert_eq!((status, body.as_slice()), (503, b"loading".as_slice()));
    }

    #[test]
    fn a_closed_port_says_what_the_system_says() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = local_client(None).unwrap();
        let e = rt()
            .block_on(post(
                &client,
                &format!("http://127.0.0.1:{port}/"),
                "application/json",
                &[],
                Vec::new(),
            ))
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        assert!(e.to_string().contains("Connection refused"), "{e}");
    }

    #[test]
    fn https_clients_build_on_ring() {
        install_tls();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // A client with TLS roots builds: no panic about a missing provider.
        reqwest::Client::builder()
            .https_only(true)
            .build()
            .expect("an HTTPS client builds");
    }
}
