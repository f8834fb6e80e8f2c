//! Runs the real `ipc relay` between a TCP client and a Unix echo server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ipc relay` on a free loopback port; returns it and the bound address.
fn start_relay(socket: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["relay", "--listen", "127.0.0.1:0", "--socket"])
        .arg(socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipc relay");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready json");
    assert_eq!(ready["relay"], "listening", "{line}");
    let addr = ready["listen"].as_str().expect("listen").to_owned();
    (Running(child), addr)
}

fn echo_server(path: &Path) {
    let listener = UnixListener::bind(path).expect("bind echo");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

#[test]
fn bytes_go_both_ways_on_concurrent_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("model.sock");
    echo_server(&socket);
    let (_relay, addr) = start_relay(&socket);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut clients: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    for round in 0..3 {
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let message = format!("client {i} round {round}\n");
            client.write_all(message.as_bytes()).expect("write");
            let mut echoed = vec![0u8; message.len()];
            client.read_exact(&mut echoed).expect("echo");
            assert_eq!(echoed, message.as_bytes());
        }
    }
    // A large payload survives intact.
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut client = clients.pop().expect("client");
    let writer = {
        let mut client = client.try_clone().expect("clone");
        let big = big.clone();
        std::thread::spawn(move || client.write_all(&big).expect("write big"))
    };
    let mut echoed = vec![0u8; big.len()];
    client.read_exact(&mut echoed).expect("read big");
    writer.join().expect("writer");
    assert!(echoed == big);
}

#[test]
fn a_missing_socket_closes_the_connection_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("absent.sock");
    let (mut relay, addr) = start_relay(&socket);
    let mut client = TcpStream::connect(&addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buffer = [0u8; 16];
    let read = client.read(&mut buffer);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // The relay keeps running and said why on stderr.
    assert!(relay.0.try_wait().expect("try_wait").is_none());
    let _ = relay.0.kill();
    let mut stderr = String::new();
    relay
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let line: Value = serde_json::from_str(stderr.lines().next().expect("a line")).expect("json");
    assert_eq!(line["code"], "CONNECTION_FAILED");
    assert!(line["message"]
        .as_str()
        .is_some_and(|m| m.contains("absent.sock")));
}

#[test]
fn a_non_loopback_listen_address_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["relay", "--listen", "0.0.0.0:8080"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first: Value = serde_json::from_str(stderr.lines().next().unwrap_or("")).expect("json");
    assert_eq!(first["code"], "USAGE");
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn a_program_after_the_double_dash_runs_once_the_relay_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("model.sock");
    echo_server(&socket);
    // The program talks through the relay at once (bash's /dev/tcp), prints what
    // came back on the relay's stdout, and its exit status becomes the relay's.
    let script = "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'ping\\n' >&3 && read -r line <&3 \
                  && echo \"got $line\" && exit 7";
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let output = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args([
            "relay",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--socket",
        ])
        .arg(&socket)
        .args(["--", "bash", "-c", script, "relay-test", &port.to_string()])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(7), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got ping\n");
    let ready: Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .expect("ready line"),
    )
    .expect("json");
    assert_eq!(ready["relay"], "listening");
}

#[test]
fn a_program_that_cannot_start_is_a_structured_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args([
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--",
            "/nonexistent/agent",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().expect("a line")).expect("json");
    assert_eq!(last["code"], "CONNECTION_FAILED");
    assert!(last["message"]
        .as_str()
        .is_some_and(|m| m.contains("/nonexistent/agent")));
}
