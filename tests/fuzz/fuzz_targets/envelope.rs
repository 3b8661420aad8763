//! Envelope decoding: never panics; what decodes encodes back to the same bytes.
#![no_main]
use chatly_protocol::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::decode(data) {
        assert_eq!(envelope.encode(), data, "decoding is canonical");
    }
});
