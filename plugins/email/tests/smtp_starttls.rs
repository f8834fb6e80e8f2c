//! Nothing said in the clear before STARTTLS is taken as said over TLS.
//!
//! Rule: bytes a server (or anyone on the path) sends after STARTTLS's `220` in
//! the same packet are not read as the server's first answers over TLS (a
//! STARTTLS response injection); the handshake fails instead, and no mail is
//! offered to that session.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::{ServerConnection, StreamOwned};
use serde_json::json;
use support::imap_standin::tls_server;
use support::{error_of, World, OTHER};

/// A submission server that answers STARTTLS with `220` and a forged EHLO reply in
/// one write, then speaks SMTP over TLS; notes whether MAIL FROM ever came.
fn injecting(world: &World) -> (u16, Arc<AtomicBool>) {
    let config = tls_server(&world.certs);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mailed = Arc::new(AtomicBool::new(false));
    let noted = Arc::clone(&mailed);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, noted) = (Arc::clone(&config), Arc::clone(&noted));
            std::thread::spawn(move || serve(tcp, config, &noted));
        }
    });
    (port, mailed)
}

fn serve(mut tcp: TcpStream, config: Arc<rustls::ServerConfig>, mailed: &AtomicBool) {
    let clear = |tcp: &mut TcpStream| -> std::io::Result<()> {
        tcp.write_all(b"220 injector ESMTP\r\n")?;
        let mut reader = BufReader::new(tcp.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?; // EHLO
        tcp.write_all(b"250-injector\r\n250 STARTTLS\r\n")?;
        line.clear();
        reader.read_line(&mut line)?; // STARTTLS
        tcp.write_all(b"220 go ahead\r\n250-forged\r\n250 AUTH PLAIN LOGIN\r\n")
    };
    if clear(&mut tcp).is_err() {
        return;
    }
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(connection, tcp);
    let mut said = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = tls.read(&mut byte) {
        said.push(byte[0]);
        if byte[0] != b'\n' {
            continue;
        }
        let line = String::from_utf8_lossy(&said).to_ascii_uppercase();
        said.clear();
        let answer: &[u8] = if line.starts_with("EHLO") {
            b"250-injector\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if line.starts_with("AUTH") {
            b"235 ok\r\n"
        } else if line.starts_with("MAIL") {
            mailed.store(true, Ordering::SeqCst);
            b"250 ok\r\n"
        } else {
            b"250 ok\r\n"
        };
        if tls.write_all(answer).and_then(|()| tls.flush()).is_err() {
            return;
        }
    }
}

#[test]
fn answers_injected_before_tls_fail_the_handshake() {
    let Some(world) = World::start() else { return };
    let (port, mailed) = injecting(&world);
    let mut config = world.config();
    config["smtp"]["port"] = json!(port);
    let plugin = world.plugin_with("injected", config);
    let answer = plugin.call(
        "email_send",
        json!({"to": [OTHER], "subject": "Injected?", "body": "x"}),
    );
    let (_, message, _) = error_of(answer);
    assert!(message.starts_with("TLS_ERROR:"), "{message}");
    assert!(
        !mailed.load(Ordering::SeqCst),
        "no mail offered to that session"
    );
}
