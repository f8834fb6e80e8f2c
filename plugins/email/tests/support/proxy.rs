//! A TCP forwarder in front of a server, whose connections the test can cut: the
//! server "drops the connection" in the middle of a session, as a restarting
//! server or a flaky network would; or whose target the test switches (the
//! plugin's next connection reaches another server).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The forwarder.
pub struct Proxy {
    /// Its port.
    pub port: u16,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Cut a connection as soon as the client sends anything more.
    pub drop_on_command: Arc<AtomicBool>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    target: Arc<AtomicU16>,
}

impl Proxy {
    /// Forwards a loopback port to `target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let drop_on_command = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let target = Arc::new(AtomicU16::new(target));
        let (kept, dropping, count, to) = (
            Arc::clone(&open),
            Arc::clone(&drop_on_command),
            Arc::clone(&accepted),
            Arc::clone(&target),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", to.load(Ordering::SeqCst)))
                else {
                    continue;
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    kept.lock().expect("open").extend([c, s]);
                }
                let dropping = Arc::clone(&dropping);
                pump(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                    Some(dropping),
                );
                pump(server, client, None);
            }
        });
        Proxy {
            port,
            open,
            drop_on_command,
            accepted,
            target,
        }
    }

    /// From now on, new connections go to `port`; the open ones are cut.
    pub fn switch(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
        self.cut();
    }

    /// Cuts every open connection now.
    pub fn cut(&self) {
        for stream in self.open.lock().expect("open").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread; once `dropping` is set, the client's next
/// bytes cut both.
fn pump(mut from: TcpStream, mut to: TcpStream, dropping: Option<Arc<AtomicBool>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 << 10];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if dropping.as_ref().is_some_and(|d| d.load(Ordering::SeqCst)) {
                break;
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
