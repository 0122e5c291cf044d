//! UnregisterBroker (key 64, `kafka-cluster.sh unregister`): the active controller removes a
//! broker's registration, fencing it first (its partitions lose it as leader); an unknown id
//! gets BROKER_ID_NOT_REGISTERED. A node that does not lead passes the request on to the
//! leader (`forward`). A broker still running registers again, as with Kafka.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

use super::RequestContext;

/// Handles UnregisterBroker.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    match ctx.broker.unregister_broker(request.broker_id.0) {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err((code, message)) => UnregisterBrokerResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(StrBytes::from_string(message))),
    }
}
