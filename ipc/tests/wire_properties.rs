//! Property tests of the wire parser.
//!
//! Rule: no input makes `parse_request` panic; anything it accepts has exactly
//! the three fields within their limits; a valid request survives a round trip.

use carapace_ipc::{parse_request, ErrorCode, WireRequest, MAX_CORRELATION_LEN};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_request(&bytes);
    }

    #[test]
    fn arbitrary_json_is_accepted_only_in_shape(value in json_value()) {
        let raw = serde_json::to_vec(&value).expect("serializes");
        match parse_request(&raw) {
            Ok(request) => {
                let Value::Object(map) = &value else { panic!("a non-object was accepted") };
                prop_assert_eq!(map.len(), 3);
                prop_assert!(request.correlation.chars().count() <= MAX_CORRELATION_LEN);
            }
            Err(error) => prop_assert!(matches!(
                error.code,
                ErrorCode::MalformedMessage | ErrorCode::PayloadTooLarge
            )),
        }
    }

    #[test]
    fn valid_requests_round_trip(
        topic in "tool\\.invoke\\.[a-z][a-z0-9_]{0,20}",
        correlation in "\\PC{0,128}",
        arguments in prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..5),
    ) {
        let request = WireRequest {
            topic,
            correlation,
            arguments: arguments.into_iter().collect::<Map<String, Value>>(),
        };
        let raw = serde_json::to_vec(&request).expect("serializes");
        let parsed = parse_request(&raw).expect("a valid request parses");
        prop_assert_eq!(parsed, request);
    }

    #[test]
    fn extra_fields_are_always_refused(name in "[a-z_]{1,12}") {
        prop_assume!(!["topic", "correlation", "arguments"].contains(&name.as_str()));
        let mut value = json!({"topic": "tool.invoke.x", "correlation": "c", "arguments": {}});
        value[name.as_str()] = json!("spoof");
        let error = parse_request(&serde_json::to_vec(&value).expect("json")).expect_err("refused");
        prop_assert_eq!(error.code, ErrorCode::MalformedMessage);
        prop_assert_eq!(error.field, Some(name));
    }
}
