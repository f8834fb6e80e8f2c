//! An OAuth2 token endpoint on loopback (RFC 6749 §6, refresh grant) for the bearer
//! tests: it checks the client id and the current refresh token, rotates the refresh
//! token on every use, and lists each access token it issues in the radicale's
//! `tokens` file (what the bearer radicale accepts). Everything it takes is counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The endpoint's state.
#[derive(Default)]
pub struct Grants {
    /// The refresh token it accepts now.
    pub refresh_token: String,
    /// Refreshes it answered with a token.
    pub issued: usize,
    /// Requests it refused.
    pub refused: usize,
}

/// A token endpoint; the thread ends with the test process.
pub struct TokenEndpoint {
    /// `http://127.0.0.1:PORT/token`.
    pub url: String,
    /// Its state.
    pub grants: Arc<Mutex<Grants>>,
}

impl TokenEndpoint {
    /// Serves client `client_id`, first accepting `refresh_token`; access tokens go
    /// into `tokens`.
    pub fn start(client_id: &str, refresh_token: &str, tokens: PathBuf) -> TokenEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/token", listener.local_addr().expect("addr"));
        let grants = Arc::new(Mutex::new(Grants {
            refresh_token: refresh_token.to_owned(),
            ..Grants::default()
        }));
        let state = Arc::clone(&grants);
        let client_id = client_id.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let form: Vec<(String, String)> = String::from_utf8_lossy(&body)
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (decode(k), decode(v)))
                    .collect();
                let field =
                    |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let mut grants = state.lock().expect("grants");
                let good = field("grant_type").as_deref() == Some("refresh_token")
                    && field("client_id").as_deref() == Some(client_id.as_str())
                    && field("refresh_token").as_deref() == Some(grants.refresh_token.as_str());
                let (status, answer) = if good {
                    grants.issued += 1;
                    let access = format!("at-{}-{}", grants.issued, super::random_hex(8));
                    grants.refresh_token = format!("rt-{}-{}", grants.issued, super::random_hex(8));
                    let listed = std::fs::read_to_string(&tokens).unwrap_or_default();
                    std::fs::write(&tokens, format!("{listed}{access}\n")).expect("tokens");
                    (
                        "200 OK",
                        format!(
                            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600,"refresh_token":"{}"}}"#,
                            grants.refresh_token
                        ),
                    )
                } else {
                    grants.refused += 1;
                    ("400 Bad Request", r#"{"error":"invalid_grant"}"#.to_owned())
                };
                drop(grants);
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    )
                    .as_bytes(),
                );
            }
        });
        TokenEndpoint { url, grants }
    }
}

/// Percent-decoding of a form value (`+` as space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
