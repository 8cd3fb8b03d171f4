//! The Jupyter wire protocol (messaging 5.3): the connection file, and a message as the
//! frames ZeroMQ carries: routing identities, `<IDS|MSG>`, the HMAC-SHA256 signature, then
//! header, parent header, metadata and content as JSON, then any binary buffers.

use std::path::Path;

use super::KernelError;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

pub const PROTOCOL_VERSION: &str = "5.3";
const DELIMITER: &[u8] = b"<IDS|MSG>";

/// What a notebook server writes for a kernel to find its sockets and key.
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    #[serde(default = "tcp")]
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    #[serde(default)]
    pub key: String,
    #[serde(default = "hmac_sha256")]
    pub signature_scheme: String,
}

fn tcp() -> String {
    "tcp".into()
}

fn hmac_sha256() -> String {
    "hmac-sha256".into()
}

impl Connection {
    pub fn read(path: &Path) -> Result<Connection, KernelError> {
        let text = std::fs::read_to_string(path).map_err(|source| KernelError::Io {
            action: "read the connection file",
            path: path.to_path_buf(),
            source,
        })?;
        let refused = |why: String| KernelError::Connection {
            path: path.to_path_buf(),
            why,
        };
        let c: Connection = serde_json::from_str(&text)
            .map_err(|e| refused(format!("is not a Jupyter connection file: {e}")))?;
        if c.transport != "tcp" {
            return Err(refused(format!(
                "asks for transport `{}`; this kernel speaks `tcp`",
                c.transport
            )));
        }
        if !c.key.is_empty() && c.signature_scheme != "hmac-sha256" {
            return Err(refused(format!(
                "asks for signature scheme `{}`; this kernel signs with `hmac-sha256`",
                c.signature_scheme
            )));
        }
        Ok(c)
    }

    pub fn endpoint(&self, port: u16) -> String {
        format!("tcp://{}:{port}", self.ip)
    }
}

/// Signs and checks messages with the connection's key (no key: no signatures).
#[derive(Clone)]
pub struct Signer {
    key: Option<Vec<u8>>,
}

impl Signer {
    pub fn new(key: &str) -> Signer {
        Signer {
            key: (!key.is_empty()).then(|| key.as_bytes().to_vec()),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        let key = self.key.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        for p in parts {
            mac.update(p);
        }
        Some(mac)
    }

    pub fn sign(&self, parts: &[&[u8]]) -> String {
        match self.mac(parts) {
            Some(mac) => hex(&mac.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// Whether `signature` (hex) is right for `parts`, compared in constant time.
    pub fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(mac) => match unhex(signature) {
                Some(bytes) => mac.verify_slice(&bytes).is_ok(),
                None => false,
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Routing identities (ROUTER sockets) or the topic (IOPub).
    pub ids: Vec<Bytes>,
    pub header: Value,
    pub parent: Value,
    pub metadata: Value,
    pub content: Value,
    pub buffers: Vec<Bytes>,
}

/// Why frames are not a message this kernel takes.
#[derive(Debug)]
pub enum WireError {
    NoDelimiter,
    TooShort,
    BadSignature,
    BadJson(&'static str, String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::NoDelimiter => write!(f, "no `<IDS|MSG>` delimiter"),
            WireError::TooShort => write!(f, "fewer than the five frames a message needs"),
            WireError::BadSignature => write!(f, "a bad signature"),
            WireError::BadJson(part, e) => write!(f, "its {part} is not JSON: {e}"),
        }
    }
}

impl Message {
    pub fn parse(frames: Vec<Bytes>, signer: &Signer) -> Result<Message, WireError> {
        let at = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .ok_or(WireError::NoDelimiter)?;
        if frames.len() < at + 6 {
            return Err(WireError::TooShort);
        }
        let parts: Vec<&[u8]> = frames[at + 2..at + 6].iter().map(|f| f.as_ref()).collect();
        if !signer.verify(&frames[at + 1], &parts) {
            return Err(WireError::BadSignature);
        }
        let json = |i: usize, what: &'static str| -> Result<Value, WireError> {
            serde_json::from_slice(&frames[at + 2 + i])
                .map_err(|e| WireError::BadJson(what, e.to_string()))
        };
        Ok(Message {
            ids: frames[..at].to_vec(),
            header: json(0, "header")?,
            parent: json(1, "parent header")?,
            metadata: json(2, "metadata")?,
            content: json(3, "content")?,
            buffers: frames[at + 6..].to_vec(),
        })
    }

    pub fn to_frames(&self, signer: &Signer) -> Vec<Bytes> {
        let parts: Vec<Vec<u8>> = [&self.header, &self.parent, &self.metadata, &self.content]
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()))
            .collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let signature = signer.sign(&refs);
        let mut frames = self.ids.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.extend(parts.into_iter().map(Bytes::from));
        frames.extend(self.buffers.iter().cloned());
        frames
    }

    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }

    /// A new message of this kernel's session, in reply to (or caused by) `parent`.
    pub fn new(session: &str, msg_type: &str, parent: Option<&Message>, content: Value) -> Message {
        Message {
            ids: parent.map(|p| p.ids.clone()).unwrap_or_default(),
            header: header(session, msg_type),
            parent: parent.map_or_else(|| json!({}), |p| p.header.clone()),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        }
    }
}

pub fn header(session: &str, msg_type: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "session": session,
        "username": "wf",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(signer: &Signer) -> Vec<Bytes> {
        let m = Message {
            ids: vec![Bytes::from_static(b"peer")],
            header: header("s", "kernel_info_request"),
            parent: json!({}),
            metadata: json!({}),
            content: json!({}),
            buffers: Vec::new(),
        };
        m.to_frames(signer)
    }

    #[test]
    fn a_signed_message_reads_back() {
        let signer = Signer::new("secret");
        let m = Message::parse(frames(&signer), &signer).unwrap();
        assert_eq!(m.msg_type(), "kernel_info_request");
        assert_eq!(m.ids, vec![Bytes::from_static(b"peer")]);
    }

    #[test]
    fn a_wrong_signature_or_shape_is_refused() {
        let mut f = frames(&Signer::new("other"));
        assert!(matches!(
            Message::parse(f.clone(), &Signer::new("secret")),
            Err(WireError::BadSignature)
        ));
        f.truncate(4);
        assert!(Message::parse(f, &Signer::new("secret")).is_err());
        assert!(matches!(
            Message::parse(vec![Bytes::from_static(b"x")], &Signer::new("")),
            Err(WireError::NoDelimiter)
        ));
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        let s = Signer::new("Jefe");
        assert_eq!(
            s.sign(&[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
