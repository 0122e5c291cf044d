//! What an observer (a broker-only node, KRaft's observer) and a voter say on the controller
//! channel once the observer's hello is accepted. No I/O here.
//!
//! An observer is not a member of the Raft group: it pulls the committed metadata log from
//! the leader, as a KRaft observer fetches `__cluster_metadata` (its registration, heartbeats
//! and controlled shutdown are Kafka requests, BrokerRegistration and BrokerHeartbeat, to the
//! leader's controller listener). Each request and each answer is one frame
//! ([`super::wire::frame`]); a payload is a tag byte, then:
//!
//! - `Fetch`: the last offset the observer holds (u64) and how long the leader may wait for
//!   more (u32 ms);
//! - `Position`: nothing; the leader answers `Fetched` with no items (its commit index, which
//!   a restarted voter's image must reach before it serves);
//! - `NotLeader`: the leader the voter knows (u64, 0 for none), then its controller address
//!   as UTF-8 (empty when not known);
//! - `Fetched`: the leader's Raft id, term and commit index (u64 each), then items, each a tag and
//!   either one metadata batch frame (tag 1) or a snapshot (tag 2: u32 length, then the
//!   snapshot bytes).
//!
//! Every length is checked against the bytes present before anything is allocated.

use kavka_metadata::MetadataBatch;

use super::wire::WireError;

const TAG_FETCH: u8 = 1;
const TAG_POSITION: u8 = 4;
const TAG_NOT_LEADER: u8 = 1;
const TAG_FETCHED: u8 = 2;
const ITEM_BATCH: u8 = 1;
const ITEM_SNAPSHOT: u8 = 2;

/// What an observer asks a voter.
#[derive(Debug, Clone, PartialEq)]
pub enum ObserverRequest {
    /// The committed log after offset `after`, waiting up to `wait_ms` when there is none yet.
    Fetch {
        /// The last offset the observer holds (0: none).
        after: u64,
        /// How long the leader may hold the request for new batches.
        wait_ms: u32,
    },
    /// The leader's term and commit index, nothing else.
    Position,
}

/// Committed log content an observer receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The next committed batch.
    Batch(MetadataBatch),
    /// The leader's latest snapshot (snapshot bytes as `kavka_metadata::encode_snapshot`
    /// writes them), for an observer behind the leader's log start.
    Snapshot(Vec<u8>),
}

/// What a voter answers an observer.
#[derive(Debug, Clone, PartialEq)]
pub enum ObserverResponse {
    /// This voter does not lead; `leader` is the Raft id of the one it knows.
    NotLeader {
        /// The leader, if known.
        leader: Option<u64>,
        /// Its controller address (`host:port`), if known.
        address: Option<String>,
    },
    /// Committed content after the requested offset (possibly none, after the wait).
    Fetched {
        /// The leader (the voter answering).
        leader: u64,
        /// The leader's term.
        term: u64,
        /// The leader's commit index.
        commit: u64,
        /// The content, in log order.
        items: Vec<Fetched>,
    },
}

/// Encodes a request payload.
pub fn encode_request(request: &ObserverRequest) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    match request {
        ObserverRequest::Fetch { after, wait_ms } => {
            out.push(TAG_FETCH);
            out.extend_from_slice(&after.to_be_bytes());
            out.extend_from_slice(&wait_ms.to_be_bytes());
        }
        ObserverRequest::Position => out.push(TAG_POSITION),
    }
    Ok(out)
}

/// Decodes a request payload.
pub fn decode_request(bytes: &[u8]) -> Result<ObserverRequest, WireError> {
    let (&tag, rest) = bytes.split_first().ok_or(WireError::BadMessage)?;
    match tag {
        TAG_FETCH if rest.len() == 12 => Ok(ObserverRequest::Fetch {
            after: u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")),
            wait_ms: u32::from_be_bytes(rest[8..].try_into().expect("4 bytes")),
        }),
        TAG_POSITION if rest.is_empty() => Ok(ObserverRequest::Position),
        _ => Err(WireError::BadMessage),
    }
}

/// Encodes a response payload.
pub fn encode_response(response: &ObserverResponse) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    match response {
        ObserverResponse::NotLeader { leader, address } => {
            out.push(TAG_NOT_LEADER);
            out.extend_from_slice(&leader.unwrap_or(0).to_be_bytes());
            out.extend_from_slice(address.as_deref().unwrap_or("").as_bytes());
        }
        ObserverResponse::Fetched {
            leader,
            term,
            commit,
            items,
        } => {
            out.push(TAG_FETCHED);
            out.extend_from_slice(&leader.to_be_bytes());
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&commit.to_be_bytes());
            for item in items {
                match item {
                    Fetched::Batch(b) => {
                        out.push(ITEM_BATCH);
                        b.encode_frame(&mut out)
                            .map_err(|e| WireError::TooLarge(e.bytes))?;
                    }
                    Fetched::Snapshot(bytes) => {
                        let len = u32::try_from(bytes.len())
                            .map_err(|_| WireError::TooLarge(bytes.len()))?;
                        out.push(ITEM_SNAPSHOT);
                        out.extend_from_slice(&len.to_be_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Decodes a response payload.
pub fn decode_response(bytes: &[u8]) -> Result<ObserverResponse, WireError> {
    let (&tag, rest) = bytes.split_first().ok_or(WireError::BadMessage)?;
    let u64_at = |at: usize| -> Result<u64, WireError> {
        rest.get(at..at + 8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
            .ok_or(WireError::BadMessage)
    };
    match tag {
        TAG_NOT_LEADER => {
            let leader = Some(u64_at(0)?).filter(|&l| l != 0);
            let address = std::str::from_utf8(&rest[8..]).map_err(|_| WireError::BadMessage)?;
            Ok(ObserverResponse::NotLeader {
                leader,
                address: Some(address.to_string()).filter(|a| !a.is_empty()),
            })
        }
        TAG_FETCHED => {
            let (leader, term, commit) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
            let mut at = &rest[24..];
            let mut items = Vec::new();
            while let Some((&kind, body)) = at.split_first() {
                match kind {
                    ITEM_BATCH => {
                        let (batch, used) =
                            MetadataBatch::decode_frame(body).map_err(|_| WireError::BadMessage)?;
                        items.push(Fetched::Batch(batch));
                        at = &body[used..];
                    }
                    ITEM_SNAPSHOT => {
                        let len = body
                            .get(..4)
                            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
                            .ok_or(WireError::BadMessage)?;
                        let snapshot = body.get(4..4 + len).ok_or(WireError::BadMessage)?;
                        items.push(Fetched::Snapshot(snapshot.to_vec()));
                        at = &body[4 + len..];
                    }
                    _ => return Err(WireError::BadMessage),
                }
            }
            Ok(ObserverResponse::Fetched {
                leader,
                term,
                commit,
                items,
            })
        }
        _ => Err(WireError::BadMessage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::{MetadataRecord, RegisterBrokerRecord};

    fn registration() -> MetadataRecord {
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 4,
            incarnation_id: uuid::Uuid::nil(),
            broker_epoch: -1,
            endpoints: vec![kavka_metadata::BrokerEndpointRecord {
                listener: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
            }],
            rack: None,
        })
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            ObserverRequest::Fetch {
                after: 41,
                wait_ms: 500,
            },
            ObserverRequest::Position,
        ] {
            assert_eq!(decode_request(&encode_request(&r).unwrap()), Ok(r));
        }
        assert!(decode_request(&[TAG_FETCH, 0, 0]).is_err());
        assert!(decode_request(&[]).is_err());
        assert!(decode_request(&[9]).is_err());
        assert!(decode_request(&[TAG_POSITION, 1]).is_err());
        assert!(decode_request(&[2]).is_err(), "the former Forward tag");
    }

    #[test]
    fn responses_round_trip() {
        let batch = MetadataBatch {
            offset: 7,
            epoch: 2,
            records: vec![registration()],
        };
        let empty = MetadataBatch {
            offset: 8,
            epoch: 2,
            records: Vec::new(),
        };
        for r in [
            ObserverResponse::NotLeader {
                leader: Some(3),
                address: Some("c:9093".into()),
            },
            ObserverResponse::NotLeader {
                leader: None,
                address: None,
            },
            ObserverResponse::Fetched {
                leader: 1,
                term: 2,
                commit: 8,
                items: vec![
                    Fetched::Snapshot(vec![1, 2, 3]),
                    Fetched::Batch(batch),
                    Fetched::Batch(empty),
                ],
            },
            ObserverResponse::Fetched {
                leader: 1,
                term: 2,
                commit: 8,
                items: Vec::new(),
            },
        ] {
            assert_eq!(decode_response(&encode_response(&r).unwrap()), Ok(r));
        }
    }

    #[test]
    fn truncated_responses_are_refused() {
        let r = ObserverResponse::Fetched {
            leader: 1,
            term: 1,
            commit: 1,
            items: vec![Fetched::Snapshot(vec![0; 16])],
        };
        let bytes = encode_response(&r).unwrap();
        for cut in 0..bytes.len() - 1 {
            // The leader, term and commit alone are a complete answer with nothing new.
            if cut != 25 {
                assert!(decode_response(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut huge = vec![TAG_FETCHED];
        huge.extend_from_slice(&[0; 24]);
        huge.push(ITEM_SNAPSHOT);
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_response(&huge).is_err());
    }
}
