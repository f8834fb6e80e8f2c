//! Drives a session socket with N calls over one libzmq DEALER, a window of W in flight.
//!
//! `cargo run --release --example load -- SOCKET N [W] [TOOL]`; prints calls/s.
//! Used by `bench/ipc.sh` to load the core before reading its RSS.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let socket = args.get(1).ok_or("usage: load SOCKET N [WINDOW] [TOOL]")?;
    let total: usize = args
        .get(2)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let window: usize = args.get(3).map(|n| n.parse()).transpose()?.unwrap_or(32);
    let tool = args
        .get(4)
        .map(String::as_str)
        .unwrap_or("get_session_info");
    let context = zmq::Context::new();
    let dealer = context.socket(zmq::DEALER)?;
    dealer.set_linger(0)?;
    dealer.set_rcvtimeo(10_000)?;
    dealer.connect(&format!("ipc://{socket}"))?;
    let request = |i: usize| {
        format!(r#"{{"topic":"tool.invoke.{tool}","correlation":"c{i}","arguments":{{}}}}"#)
    };
    let started = Instant::now();
    let (mut sent, mut received, mut errors) = (0usize, 0usize, 0usize);
    while received < total {
        while sent < total && sent - received < window {
            dealer.send(request(sent).as_bytes(), 0)?;
            sent += 1;
        }
        let answer = dealer.recv_bytes(0)?;
        if answer.windows(9).any(|w| w == b"\"error\":{") {
            errors += 1;
        }
        received += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{total} calls in {elapsed:.2} s: {:.0} calls/s ({errors} errors, window {window})",
        total as f64 / elapsed
    );
    Ok(())
}
