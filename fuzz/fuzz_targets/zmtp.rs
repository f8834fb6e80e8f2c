//! Fuzzes the ZMTP decoder and assembler: never a panic, never a frame over the
//! limit, the same events whatever the chunking, and no body larger than its bytes.
#![no_main]

use carapace_zmtp::codec::{accept_ready, pong_for, Assembler, Decoder, Event};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 16;

fn decode_all(data: &[u8], chunk: usize) -> (Vec<Event>, bool) {
    let mut decoder = Decoder::new(LIMIT);
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        let mut at = 0;
        loop {
            match decoder.decode(&piece[at..]) {
                Ok((used, event)) => {
                    at += used;
                    match event {
                        Some(event) => events.push(event),
                        None => {
                            assert_eq!(at, piece.len());
                            break;
                        }
                    }
                }
                Err(_) => return (events, true),
            }
        }
    }
    (events, false)
}

fuzz_target!(|data: &[u8]| {
    let chunk = usize::from(data.first().copied().unwrap_or(1));
    let (whole, failed_whole) = decode_all(data, data.len());
    let (pieces, failed_pieces) = decode_all(data, chunk);
    assert_eq!(whole, pieces, "chunking changed the events");
    assert_eq!(failed_whole, failed_pieces);
    let mut assembler = Assembler::new(3, LIMIT);
    for event in whole {
        match event {
            Event::Frame(frame) => {
                assert!(frame.body.len() <= LIMIT && frame.body.len() <= data.len());
                if assembler.push(frame).is_err() {
                    break;
                }
            }
            Event::Command(command) => {
                let _ = accept_ready(&command, &["DEALER", "REQ"]);
                if let Some(pong) = pong_for(&command) {
                    assert!(pong.len() <= 2 + 5 + 16);
                }
            }
            Event::Header { len } => assert!(len <= LIMIT),
            Event::Greeting(_) => {}
        }
    }
});
