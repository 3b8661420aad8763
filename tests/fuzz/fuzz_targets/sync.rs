//! The sync codec (`/chatly/sync/2`): requests and responses, decode, re-encode, decode again.
#![no_main]
use chatly_protocol::sync::{Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let bytes = request.encode().expect("what decoded encodes");
        assert_eq!(Request::decode(&bytes).expect("and decodes again"), request);
    }
    if let Ok(response) = Response::decode(data) {
        let bytes = response.encode().expect("what decoded encodes");
        assert_eq!(Response::decode(&bytes).expect("and decodes again"), response);
    }
});
