//! Gossip payload splitting: never panics; a bundle that splits encodes back to the same bytes.
#![no_main]
use chatly_protocol::bundle::{encode_bundle, gossip_envelopes, BUNDLE_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelopes) = gossip_envelopes(data) {
        if data.starts_with(&BUNDLE_MAGIC) {
            let owned: Vec<Vec<u8>> = envelopes.iter().map(|e| e.to_vec()).collect();
            let again = encode_bundle(&owned).expect("a split bundle encodes again");
            assert_eq!(again, data, "bundle splitting is canonical");
        } else {
            assert_eq!(envelopes, vec![data], "one envelope is its own payload");
        }
    }
});
