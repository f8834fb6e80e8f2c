//! An OAuth2 token endpoint for tests, on loopback, speaking real HTTP/1.1:
//! `POST /token` (the refresh grant, RFC 6749 §6: the refresh token rotated on
//! every use, `invalid_grant` once revoked or for a token it does not hold,
//! `invalid_client` for another client) and `POST /introspect` (RFC 7662:
//! `{active, username}`, what dovecot's oauth2 passdb asks). Each access token
//! issued is also appended to [`Grants::tokens_file`] when set (what a bearer-token
//! radicale reads). Everything it answers is counted.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::random::random_text;

/// What the endpoint knows, and what it did.
#[derive(Default)]
pub struct Grants {
    /// The client id it serves.
    pub client_id: String,
    /// The refresh token it accepts now.
    pub refresh_token: String,
    /// The user access tokens are issued to (for introspection).
    pub user: String,
    /// Every refresh is refused with `invalid_grant`.
    pub revoked: bool,
    /// Lifetime of the access tokens it issues.
    pub expires_in: u64,
    /// Access tokens issued, with their user.
    pub access: HashMap<String, String>,
    /// Where issued access tokens are appended, one a line.
    pub tokens_file: Option<PathBuf>,
    /// Refreshes answered with a token.
    pub issued: usize,
    /// Refreshes refused.
    pub refused: usize,
}

/// A running endpoint; its threads end with the test process.
pub struct TokenEndpoint {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its state.
    pub grants: Arc<Mutex<Grants>>,
}

impl TokenEndpoint {
    /// Serves `client_id` for `user`, first accepting `refresh_token`.
    pub fn start(client_id: &str, refresh_token: &str, user: &str) -> TokenEndpoint {
        TokenEndpoint::start_with(Grants {
            client_id: client_id.to_owned(),
            refresh_token: refresh_token.to_owned(),
            user: user.to_owned(),
            expires_in: 3600,
            ..Grants::default()
        })
    }

    /// Serves with `grants` as its first state.
    pub fn start_with(grants: Grants) -> TokenEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let grants = Arc::new(Mutex::new(grants));
        let shared = Arc::clone(&grants);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let grants = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &grants));
            }
        });
        TokenEndpoint { base, grants }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// The introspection endpoint's URL.
    pub fn introspect_url(&self) -> String {
        format!("{}/introspect", self.base)
    }
}

/// Answers requests on one connection until it closes.
fn serve(stream: TcpStream, grants: &Mutex<Grants>) {
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
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let (status, answer) = {
            let mut grants = grants.lock().expect("grants");
            match path {
                "/token" => token(&mut grants, &fields),
                "/introspect" => {
                    let token = fields.get("token").cloned().unwrap_or_default();
                    match grants.access.get(&token) {
                        Some(user) => (200, format!(r#"{{"active":true,"username":"{user}"}}"#)),
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

/// The refresh grant.
fn token(grants: &mut Grants, fields: &HashMap<String, String>) -> (u16, String) {
    let field = |name: &str| fields.get(name).map(String::as_str);
    if grants.revoked {
        grants.refused += 1;
        return (
            400,
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#
                .to_owned(),
        );
    }
    if field("grant_type") != Some("refresh_token") || field("client_id") != Some(&grants.client_id)
    {
        grants.refused += 1;
        return (401, r#"{"error":"invalid_client"}"#.to_owned());
    }
    if field("refresh_token") != Some(&grants.refresh_token) {
        grants.refused += 1;
        return (400, r#"{"error":"invalid_grant"}"#.to_owned());
    }
    grants.issued += 1;
    let access = format!("at-{}-{}", grants.issued, random_text(24));
    grants.refresh_token = format!("rt-{}-{}", grants.issued, random_text(24));
    grants.access.insert(access.clone(), grants.user.clone());
    if let Some(file) = &grants.tokens_file {
        let listed = std::fs::read_to_string(file).unwrap_or_default();
        std::fs::write(file, format!("{listed}{access}\n")).expect("tokens file");
    }
    (
        200,
        format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{},"refresh_token":"{}"}}"#,
            grants.expires_in, grants.refresh_token
        ),
    )
}

/// A form body's fields, percent-decoded (`+` as space).
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
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("3F");
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
