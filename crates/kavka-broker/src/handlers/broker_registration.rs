//! BrokerRegistration (key 62): a broker of the cluster registers its listeners and rack with
//! the active controller, which answers with its broker epoch (`broker/heartbeats.rs`);
//! INCONSISTENT_CLUSTER_ID for a broker formatted for another cluster. A node that does not
//! lead passes the request on to the leader (`forward`), as for the other controller APIs.
//! The broker's supported features and log directories are not checked (one metadata
//! version, one log directory per node so far).

use kavka_metadata::{BrokerEndpointRecord, RegisterBrokerRecord};
use kavka_protocol::messages::{BrokerRegistrationRequest, BrokerRegistrationResponse};

use super::RequestContext;

/// Handles BrokerRegistration.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: BrokerRegistrationRequest,
) -> BrokerRegistrationResponse {
    let wanted = RegisterBrokerRecord {
        broker_id: request.broker_id.0,
        incarnation_id: request.incarnation_id,
        broker_epoch: -1,
        endpoints: request
            .listeners
            .iter()
            .map(|l| BrokerEndpointRecord {
                listener: l.name.to_string(),
                host: l.host.to_string(),
                port: i32::from(l.port),
            })
            .collect(),
        rack: request.rack.as_ref().map(|r| r.to_string()),
    };
    match ctx
        .broker
        .register_broker(request.cluster_id.as_str(), wanted)
    {
        Ok(epoch) => BrokerRegistrationResponse::default().with_broker_epoch(epoch),
        Err((code, why)) => {
            tracing::info!(broker = request.broker_id.0, code = code.name(), %why, "broker registration refused");
            BrokerRegistrationResponse::default()
                .with_error_code(code.code())
                .with_broker_epoch(-1)
        }
    }
}
