//! A hostile IMAP server for the limit tests: a loopback listener speaking just
//! enough IMAP (greeting, LOGIN, CAPABILITY, EXAMINE, UID SEARCH, UID FETCH,
//! LOGOUT) over TLS with the test CA's certificate, or in the clear before
//! STARTTLS, and then doing one [`Hostile`] thing. What no real server sends; the
//! real-server tests use dovecot.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::Certs;

/// Most bytes an endless answer sends before it gives up (a client without bounds
/// has taken them all by then).
pub const ENDLESS: usize = 300 << 20;

/// What the stand-in does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Answers the first UID FETCH with a literal of this many bytes, and sends
    /// bytes of it until the client leaves.
    HugeLiteral(u64),
    /// Answers the first UID FETCH with a BODYSTRUCTURE 10,000 parentheses deep.
    DeepNesting,
    /// Greets with a line that never ends (over TLS).
    EndlessGreeting,
    /// Answers EXAMINE one byte a second.
    Dribble,
    /// Answers EXAMINE with `* 1 EXISTS` lines that never end.
    ExistsFlood,
    /// Puts this many `* 1 EXISTS` lines before every UID SEARCH answer, then
    /// answers normally.
    ExistsBeforeSearch(usize),
    /// In the clear: greets, then answers STARTTLS with CAPABILITY lines that never end.
    EndlessLinesBeforeTls,
    /// In the clear: a greeting line that never ends.
    EndlessGreetingBeforeTls,
    /// In the clear: the greeting one byte a second.
    DribbleBeforeTls,
    /// Moves at UID MOVE (counted in [`StandIn::moves`]) and closes the
    /// connection instead of answering: the move happened, the client never hears.
    LostMoveAnswer,
    /// Offers neither MOVE nor UIDPLUS; counts UID COPY in [`StandIn::moves`].
    NoMoveNoUidplus,
}

impl Hostile {
    fn before_tls(self) -> bool {
        matches!(
            self,
            Hostile::EndlessLinesBeforeTls
                | Hostile::EndlessGreetingBeforeTls
                | Hostile::DribbleBeforeTls
        )
    }
}

/// The running stand-in; stops taking connections on drop.
pub struct StandIn {
    /// Its loopback port.
    pub port: u16,
    /// UID MOVE commands received, over all connections.
    pub moves: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    /// Starts one doing `hostile`, with the certificate of `certs` (for `localhost`).
    pub fn start(certs: &Certs, hostile: Hostile) -> StandIn {
        let config = tls_server(certs);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let moves = Arc::new(AtomicUsize::new(0));
        let (stopped, moved) = (Arc::clone(&stop), Arc::clone(&moves));
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let (config, moved) = (Arc::clone(&config), Arc::clone(&moved));
                std::thread::spawn(move || serve(tcp, config, hostile, &moved));
            }
        });
        StandIn { port, moves, stop }
    }
}

/// The rustls server settings with `certs`' certificate (for `localhost`).
pub fn tls_server(certs: &Certs) -> Arc<ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_file(&certs.key).expect("key");
    Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config"),
    )
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut tcp: TcpStream, config: Arc<ServerConfig>, hostile: Hostile, moves: &AtomicUsize) {
    if hostile.before_tls() {
        let _ = in_the_clear(&mut tcp, hostile);
        return;
    }
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(connection, tcp);
    let _ = speak(&mut tls, hostile, moves);
}

fn in_the_clear(tcp: &mut TcpStream, hostile: Hostile) -> std::io::Result<()> {
    match hostile {
        Hostile::EndlessGreetingBeforeTls => endless(tcp, b"* OK ", b"x"),
        Hostile::DribbleBeforeTls => dribble(tcp, b"* OK a greeting that takes its time\r\n"),
        _ => {
            tcp.write_all(b"* OK stand-in\r\n")?;
            let _ = read_line(tcp)?;
            endless(tcp, b"", b"* CAPABILITY IMAP4rev1 STARTTLS\r\n")
        }
    }
}

fn speak(
    tls: &mut (impl Read + Write),
    hostile: Hostile,
    moves: &AtomicUsize,
) -> std::io::Result<()> {
    if hostile == Hostile::EndlessGreeting {
        return endless(tls, b"* OK ", b"x");
    }
    tls.write_all(b"* OK stand-in ready\r\n")?;
    loop {
        let line = read_line(tls)?;
        let mut words = line.splitn(2, ' ');
        let tag = words.next().unwrap_or("*").to_owned();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let answer = if command.starts_with("LOGIN") || command.starts_with("AUTHENTICATE") {
            format!("{tag} OK logged in\r\n")
        } else if command.starts_with("CAPABILITY") {
            let moves = if hostile == Hostile::NoMoveNoUidplus {
                ""
            } else {
                " MOVE"
            };
            format!("* CAPABILITY IMAP4rev1 LITERAL+{moves}\r\n{tag} OK\r\n")
        } else if command.starts_with("EXAMINE") || command.starts_with("SELECT") {
            match hostile {
                Hostile::Dribble => {
                    return dribble(tls, b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n");
                }
                Hostile::ExistsFlood => return endless(tls, b"", b"* 1 EXISTS\r\n"),
                _ => format!(
                    "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n{tag} OK [READ-ONLY] done\r\n"
                ),
            }
        } else if command.starts_with("UID SEARCH") {
            let flood = match hostile {
                Hostile::ExistsBeforeSearch(n) => "* 1 EXISTS\r\n".repeat(n),
                _ => String::new(),
            };
            format!("{flood}* SEARCH 1\r\n{tag} OK\r\n")
        } else if command.starts_with("UID FETCH") {
            match hostile {
                Hostile::HugeLiteral(length) => {
                    let head = format!("* 1 FETCH (UID 1 BODY[]<0> {{{length}}}\r\n");
                    return endless(tls, head.as_bytes(), b"x");
                }
                Hostile::DeepNesting => format!(
                    "* 1 FETCH (UID 1 BODYSTRUCTURE {}\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1{})\r\n{tag} OK\r\n",
                    "(".repeat(10_000),
                    ")".repeat(10_000)
                ),
                _ => format!(
                    "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 30 BODY[HEADER]<0> {{30}}\r\nSubject: from the stand-in\r\n\r\n)\r\n{tag} OK\r\n"
                ),
            }
        } else if command.starts_with("STATUS") {
            format!("* STATUS Archive (UIDVALIDITY 9)\r\n{tag} OK\r\n")
        } else if command.starts_with("UID COPY") {
            moves.fetch_add(1, Ordering::SeqCst);
            format!("{tag} OK copied\r\n")
        } else if command.starts_with("UID MOVE") {
            moves.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        } else if command.starts_with("LOGOUT") {
            tls.write_all(format!("* BYE\r\n{tag} OK\r\n").as_bytes())?;
            return Ok(());
        } else {
            format!("{tag} OK\r\n")
        };
        tls.write_all(answer.as_bytes())?;
        tls.flush()?;
    }
}

/// `head`, then `unit` again and again until the client leaves or [`ENDLESS`].
fn endless(stream: &mut impl Write, head: &[u8], unit: &[u8]) -> std::io::Result<()> {
    stream.write_all(head)?;
    let chunk = unit.repeat((64 << 10) / unit.len().max(1));
    let mut sent = 0;
    while sent < ENDLESS {
        stream.write_all(&chunk)?;
        stream.flush()?;
        sent += chunk.len();
    }
    Ok(())
}

/// `text` one byte a second, for at most a minute.
fn dribble(stream: &mut impl Write, text: &[u8]) -> std::io::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    for byte in text.iter().cycle() {
        if Instant::now() > until {
            break;
        }
        stream.write_all(&[*byte])?;
        stream.flush()?;
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// One line from the client, byte by byte (at most 64 KiB).
fn read_line(stream: &mut impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 << 10 {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            break;
        }
        if byte[0] != b'\r' {
            line.push(byte[0]);
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
