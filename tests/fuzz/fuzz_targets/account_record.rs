//! Account records: decode, re-encode, decode again.
#![no_main]
use chatly_protocol::AccountRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = AccountRecord::decode(data) {
        let bytes = record.encode().expect("what decoded encodes");
        assert_eq!(AccountRecord::decode(&bytes).expect("and decodes again"), record);
    }
});
