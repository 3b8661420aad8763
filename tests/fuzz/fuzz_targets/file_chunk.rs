//! The chunk codec (`/chatly/file/1`): decode, re-encode, decode again.
#![no_main]
use chatly_protocol::file::{ChunkRequest, ChunkResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ChunkRequest::decode(data) {
        assert_eq!(ChunkRequest::decode(&request.encode()).expect("decodes again"), request);
    }
    if let Ok(response) = ChunkResponse::decode(data) {
        let bytes = response.encode().expect("what decoded encodes");
        assert_eq!(ChunkResponse::decode(&bytes).expect("and decodes again"), response);
    }
});
