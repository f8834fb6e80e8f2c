//! An OAuth2 token endpoint and introspection endpoint on loopback, speaking real
//! HTTP/1.1: `POST /token` (grant_type=refresh_token, rotating the refresh token
//! each time; `invalid_grant` once revoked) and `POST /introspect` (token=...:
//! `{active, username}`), which dovecot's oauth2 passdb and the SMTP relay ask.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::random_text;

/// What the endpoint knows.
#[derive(Default)]
pub struct State {
    /// The refresh token it accepts now.
    pub refresh: String,
    /// Access tokens it issued, by token -> user.
    pub access: HashMap<String, String>,
    /// The client id it expects.
    pub client_id: String,
    /// Every refresh is refused with invalid_grant.
    pub revoked: bool,
    /// Refreshes served.
    pub refreshes: usize,
    /// Lifetime of issued tokens.
    pub expires_in: u64,
}

/// The running endpoint.
pub struct OAuthServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its state.
    pub state: Arc<Mutex<State>>,
}

impl OAuthServer {
    /// Starts it for `user`, with a first refresh token and client id made now.
    pub fn start(user: &str) -> OAuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            refresh: random_text(32),
            client_id: random_text(12),
            expires_in: 3600,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let user = user.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                let user = user.clone();
                std::thread::spawn(move || serve(stream, &state, &user));
            }
        });
        OAuthServer { base, state }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// The introspection URL.
    pub fn introspect_url(&self) -> String {
        format!("{}/introspect", self.base)
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
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

fn serve(stream: TcpStream, state: &Mutex<State>, user: &str) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fields = form(&String::from_utf8_lossy(&body));
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let (status, answer) = {
            let mut s = state.lock().expect("state");
            match path.as_str() {
                "/token" => {
                    if s.revoked {
                        (400, r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#.to_owned())
                    } else if fields.get("grant_type").map(String::as_str) != Some("refresh_token")
                        || fields.get("client_id") != Some(&s.client_id)
                    {
                        (401, r#"{"error":"invalid_client"}"#.to_owned())
                    } else if fields.get("refresh_token") != Some(&s.refresh) {
                        (400, r#"{"error":"invalid_grant"}"#.to_owned())
                    } else {
                        let access = random_text(40);
                        let rotated = random_text(32);
                        s.access.insert(access.clone(), user.to_owned());
                        s.refresh = rotated.clone();
                        s.refreshes += 1;
                        (
                            200,
                            format!(
                                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{},"refresh_token":"{rotated}"}}"#,
                                s.expires_in
                            ),
                        )
                    }
                }
                "/introspect" => {
                    let token = fields.get("token").cloned().unwrap_or_default();
                    match s.access.get(&token) {
                        Some(owner) => (200, format!(r#"{{"active":true,"username":"{owner}"}}"#)),
                        None => (200, r#"{"active":false}"#.to_owned()),
                    }
                }
                _ => (404, "{}".to_owned()),
            }
        };
        let reason = if status == 200 { "OK" } else { "Error" };
        let reply = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
