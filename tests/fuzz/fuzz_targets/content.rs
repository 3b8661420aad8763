//! Content bodies (messages, edits, deletions, reactions, room info): decode, re-encode, decode
//! again to the same value.
#![no_main]
use chatly_protocol::Content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = Content::decode(data) {
        let bytes = content.encode().expect("what decoded encodes");
        assert_eq!(Content::decode(&bytes).expect("and decodes again"), content);
    }
});
