//! The plugin's HTML escaping against the stand-in's parser, which reads HTML as
//! strictly as Telegram: any text, escaped, parses back to itself, and the same text
//! unescaped is refused whenever it holds markup characters (so the stand-in would
//! catch an escaping mistake).

mod support;

use carapace_plugin_telegram::html::{escape, to_plain};
use proptest::prelude::*;
use support::bot_api::parse_html;

fn texts() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        "[a-zA-Z0-9 ]{1,12}",
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("&".to_owned()),
        Just("&amp;".to_owned()),
        Just("<b>".to_owned()),
        Just("</i>".to_owned()),
        Just("\"".to_owned()),
        Just("_*[]()~`#+-=|{}.!\\".to_owned()),
        Just("😀é\u{202e}\n".to_owned()),
    ];
    proptest::collection::vec(atom, 0..40).prop_map(|atoms| atoms.concat())
}

proptest! {
    #[test]
    fn escaped_text_parses_back_to_itself(text in texts()) {
        prop_assert_eq!(parse_html(&escape(&text)), Ok(text.clone()));
        prop_assert_eq!(to_plain(&escape(&text)), text.clone());
        if text.contains(['<', '>', '&']) {
            prop_assert!(!matches!(parse_html(&text), Ok(shown) if shown == text));
        }
    }
}
