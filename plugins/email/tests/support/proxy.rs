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
    /// Once: after the client sent this many more bytes, cut the connection
    /// instead of passing on the server's next answer (the server did the work;
    /// the client never hears). Counted on the wire, so it works under TLS.
    pub cut_answer_after: Arc<Mutex<Option<usize>>>,
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
        let cut_answer_after: Arc<Mutex<Option<usize>>> = Arc::default();
        let (kept, dropping, count, to, answer_cut) = (
            Arc::clone(&open),
            Arc::clone(&drop_on_command),
            Arc::clone(&accepted),
            Arc::clone(&target),
            Arc::clone(&cut_answer_after),
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
                    Cut::OnCommand(dropping, Arc::clone(&answer_cut)),
                );
                pump(server, client, Cut::OnAnswer(Arc::clone(&answer_cut)));
            }
        });
        Proxy {
            port,
            open,
            drop_on_command,
            accepted,
            cut_answer_after,
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

/// When a pump cuts the connection.
enum Cut {
    /// Client to server: once the flag is set, at the client's next bytes; the
    /// bytes also count down an armed [`Proxy::cut_answer_after`].
    OnCommand(Arc<AtomicBool>, Arc<Mutex<Option<usize>>>),
    /// Server to client: at the first answer once that count reached zero.
    OnAnswer(Arc<Mutex<Option<usize>>>),
}

impl Cut {
    fn now(&self, bytes: &[u8]) -> bool {
        match self {
            Cut::OnCommand(flag, countdown) => {
                if let Some(left) = countdown.lock().expect("countdown").as_mut() {
                    *left = left.saturating_sub(bytes.len());
                }
                flag.load(Ordering::SeqCst)
            }
            Cut::OnAnswer(countdown) => {
                let mut countdown = countdown.lock().expect("countdown");
                let due = *countdown == Some(0);
                if due {
                    *countdown = None;
                }
                due
            }
        }
    }
}

/// Copies `from` to `to` on a thread, until `cut` says to cut both.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: Cut) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 << 10];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cut.now(&buffer[..n]) {
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
