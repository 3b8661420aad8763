//! The request-response services (history sync, file chunks): outbound requests with their
//! answer channels, inbound requests handed to the node as [`NetEvent::Request`].

use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};

use super::codec::ByteCodec;
use super::event_loop::{AnswerSender, EventLoop};
use super::{NetError, NetEvent, Service};

impl EventLoop {
    /// Sends a request; the answer goes to `reply`.
    pub(super) fn send_request(
        &mut self,
        service: Service,
        peer: PeerId,
        data: Vec<u8>,
        reply: AnswerSender,
    ) {
        let id = self.service(service).send_request(&peer, data);
        self.requests.insert((service, id), reply);
    }

    /// Answers an inbound request.
    pub(super) fn send_response(
        &mut self,
        service: Service,
        channel: ResponseChannel<Vec<u8>>,
        data: Vec<u8>,
    ) {
        let _ = self.service(service).send_response(channel, data);
    }

    fn service(&mut self, service: Service) -> &mut request_response::Behaviour<ByteCodec> {
        let behaviour = self.swarm.behaviour_mut();
        match service {
            Service::Sync => &mut behaviour.sync,
            Service::Files => &mut behaviour.files,
        }
    }

    pub(super) fn handle_request_event(
        &mut self,
        service: Service,
        event: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let event = NetEvent::Request {
                        service,
                        peer,
                        data: request,
                        channel,
                    };
                    if self.events.try_send(event).is_err() {
                        tracing::debug!(%peer, ?service, "request dropped: the node is busy");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.requests.remove(&(service, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.requests.remove(&(service, request_id)) {
                    let _ = reply.send(Err(NetError::Request(error.to_string())));
                }
            }
            _ => {}
        }
    }
}
