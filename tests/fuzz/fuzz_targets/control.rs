//! Room control operations and key deliveries: decode, re-encode, decode again.
#![no_main]
use chatly_protocol::control::{ControlOp, KeyDelivery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = ControlOp::decode(data) {
        let bytes = op.encode().expect("what decoded encodes");
        assert_eq!(ControlOp::decode(&bytes).expect("and decodes again"), op);
    }
    if let Ok(delivery) = KeyDelivery::decode(data) {
        let bytes = delivery.encode().expect("what decoded encodes");
        assert_eq!(KeyDelivery::decode(&bytes).expect("and decodes again"), delivery);
    }
});
