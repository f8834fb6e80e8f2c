//! Property tests of the ZMTP codec both ends of a session socket use.
//!
//! Rule: no byte sequence makes the decoder panic or yield a frame over its
//! limit; the events do not depend on how the bytes are split into reads; and
//! whatever the encoder writes, the decoder reads back as the same frames.

use carapace_zmtp::codec::{self as zmtp, Assembler, Decoder, Event, Frame};
use proptest::prelude::*;

const LIMIT: usize = 4096;

/// Decodes `bytes` fed in pieces of `chunk`; stops at the first error.
fn decode(bytes: &[u8], chunk: usize) -> (Vec<Event>, bool) {
    let mut decoder = Decoder::new(LIMIT);
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        let mut at = 0;
        loop {
            match decoder.decode(&piece[at..]) {
                Ok((used, Some(event))) => {
                    at += used;
                    events.push(event);
                }
                Ok((used, None)) => {
                    assert_eq!(at + used, piece.len(), "no event, so all input is used");
                    break;
                }
                Err(_) => return (events, true),
            }
        }
    }
    while let Ok((_, Some(event))) = decoder.decode(&[]) {
        events.push(event);
    }
    (events, false)
}

fn frames_of(events: &[Event]) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_after_a_greeting_never_panic_or_overreach(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..80,
    ) {
        let mut bytes = zmtp::greeting(false).to_vec();
        bytes.extend(tail);
        let (whole, failed) = decode(&bytes, bytes.len());
        let (pieces, failed_pieces) = decode(&bytes, chunk);
        prop_assert_eq!(&whole, &pieces);
        prop_assert_eq!(failed, failed_pieces);
        for frame in frames_of(&whole) {
            prop_assert!(frame.body.len() <= LIMIT && frame.body.len() < bytes.len());
        }
    }

    #[test]
    fn encoded_messages_decode_to_the_same_frames(
        messages in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..4),
            1..5,
        ),
        chunk in 1usize..700,
    ) {
        let mut bytes = zmtp::greeting(true).to_vec();
        bytes.extend(zmtp::ready("ROUTER"));
        for message in &messages {
            let frames: Vec<&[u8]> = message.iter().map(Vec::as_slice).collect();
            zmtp::encode_message(&mut bytes, &frames);
        }
        let (events, failed) = decode(&bytes, chunk);
        prop_assert!(!failed);
        let mut assembler = Assembler::new(4, 1 << 20);
        let mut decoded = Vec::new();
        for frame in frames_of(&events) {
            if let Some(message) = assembler.push(frame).expect("within bounds") {
                decoded.push(message.frames);
            }
        }
        prop_assert_eq!(decoded, messages);
    }
}
