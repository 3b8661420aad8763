//! Signals (presence, typing, receipts) and their bodies: decoding is canonical.
#![no_main]
use chatly_protocol::signal::{Signal, SignalBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signal) = Signal::decode(data) {
        assert_eq!(signal.encode(), data, "decoding is canonical");
        if let Ok(body) = SignalBody::decode(signal.header.kind, &signal.body) {
            assert_eq!(body.encode(), signal.body);
        }
    }
});
