//! A loopback relay in front of radicale that writes down the method of every
//! request the plugin sends, in order (so a test can tell a reused window from a
//! new REPORT), and can hide radicale's `getctag` from its answers (a server that
//! keeps no ctag).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// The relay; it serves until the test ends.
pub struct Relay {
    /// `http://127.0.0.1:PORT`, to use in place of the server's URL.
    pub url: String,
    methods: Arc<Mutex<Vec<String>>>,
    hide_ctag: Arc<AtomicBool>,
}

impl Relay {
    /// A relay to `upstream` (`host:port`).
    pub fn to(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let methods = Arc::new(Mutex::new(Vec::new()));
        let hide_ctag = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let (m, h) = (Arc::clone(&methods), Arc::clone(&hide_ctag));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (m, h) = (Arc::clone(&m), Arc::clone(&h));
                let (client2, server2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                thread::spawn(move || requests(client, server, &m));
                thread::spawn(move || answers(server2, client2, &h));
            }
        });
        Relay {
            url,
            methods,
            hide_ctag,
        }
    }

    /// The methods sent so far, in order.
    pub fn methods(&self) -> Vec<String> {
        self.methods.lock().expect("methods").clone()
    }

    /// How many requests of `method` were sent so far.
    pub fn count(&self, method: &str) -> usize {
        self.methods().iter().filter(|m| *m == method).count()
    }

    /// Whether answers pass with `getctag` renamed (so it is not understood).
    pub fn hide_ctag(&self, hide: bool) {
        self.hide_ctag.store(hide, Ordering::SeqCst);
    }
}

/// Copies requests, one by one (head, then `Content-Length` bytes of body),
/// writing down each method.
fn requests(client: TcpStream, mut server: TcpStream, methods: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if head.is_empty() {
                let method = line.split(' ').next().unwrap_or("").to_owned();
                methods.lock().expect("methods").push(method);
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        head.extend_from_slice(&body);
        if server.write_all(&head).is_err() {
            return;
        }
    }
}

/// Copies answers back, renaming `getctag` when asked to (same length, so
/// `Content-Length` still holds).
fn answers(mut server: TcpStream, mut client: TcpStream, hide_ctag: &AtomicBool) {
    let mut buffer = [0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match server.read(&mut buffer) {
            Ok(0) | Err(_) => {
                let _ = client.write_all(&held);
                let _ = client.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => n,
        };
        held.extend_from_slice(&buffer[..n]);
        if hide_ctag.load(Ordering::SeqCst) {
            let mut at = 0;
            while let Some(i) = find(&held[at..], b"getctag") {
                held[at + i..at + i + 7].copy_from_slice(b"getctax");
                at += i + 7;
            }
        }
        // Keep back a tail that may be the start of `getctag` split across reads.
        let keep = if hide_ctag.load(Ordering::SeqCst) {
            (1..7)
                .rev()
                .find(|&k| held.len() >= k && held.ends_with(&b"getctag"[..k]))
                .unwrap_or(0)
        } else {
            0
        };
        let send = held.len() - keep;
        if client.write_all(&held[..send]).is_err() {
            return;
        }
        held.drain(..send);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
