//! ApiVersions (key 18): the served APIs and versions, from the table in `handlers`.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kavka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::{RequestContext, SERVED};

/// Highest ApiVersions version served.
pub const VERSION_MAX: i16 = 4;

/// Kafka's feature of the transaction protocol (KIP-890): 2 means producers may add partitions
/// implicitly and EndTxn bumps the epoch. Kavka serves 0-2 and finalizes 2, as a new Kafka 4
/// cluster does; producers of version 1 keep working.
const TRANSACTION_VERSION: (&str, i16, i16) = ("transaction.version", 0, 2);

/// The finalized features' epoch (Kafka: the metadata offset that set them); fixed, since
/// the levels never change.
const FINALIZED_FEATURES_EPOCH: i64 = 1;

fn supported_features() -> Vec<SupportedFeatureKey> {
    let (name, min, max) = TRANSACTION_VERSION;
    vec![SupportedFeatureKey::default()
        .with_name(StrBytes::from_static_str(name))
        .with_min_version(min)
        .with_max_version(max)]
}

fn finalized_features() -> Vec<FinalizedFeatureKey> {
    let (name, _, level) = TRANSACTION_VERSION;
    vec![FinalizedFeatureKey::default()
        .with_name(StrBytes::from_static_str(name))
        .with_min_version_level(level)
        .with_max_version_level(level)]
}

fn api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// Kafka's rule for client software name and version (KIP-511):
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && edge(b[0])
        && edge(b[b.len() - 1])
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

/// The answer to a version newer than [`VERSION_MAX`], to be encoded as v0.
pub fn unsupported_version_response() -> Response {
    Response::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UNSUPPORTED_VERSION.code())
            .with_api_keys(api_keys()),
    )
}

/// Handles ApiVersions.
pub fn handle(ctx: &RequestContext<'_>, request: ApiVersionsRequest) -> ApiVersionsResponse {
    let response = ApiVersionsResponse::default()
        .with_api_keys(api_keys())
        .with_supported_features(supported_features())
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(finalized_features());
    if ctx.version() >= 3
        && !(valid_software_field(request.client_software_name.as_str())
            && valid_software_field(request.client_software_version.as_str()))
    {
        return response.with_error_code(ErrorCode::INVALID_REQUEST.code());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::valid_software_field;

    #[test]
    fn software_fields_follow_kip_511() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.3.0"));
        assert!(valid_software_field("kafka-python"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("a b"));
    }
}
