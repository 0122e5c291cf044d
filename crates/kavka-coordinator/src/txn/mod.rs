//! The transaction coordinator: its records (`__transaction_state`, Kafka's TransactionLog
//! formats) and its state machine, one [`TxnShard`] per partition. The broker runtime that
//! runs it, the marker path and the transaction APIs come next; until then nothing runs these
//! shards and no transaction API is served.

pub mod records;
mod shard;

pub use records::{TxnLogValue, TxnRecord, TxnStatus};
pub use shard::{TxnConfig, TxnEffects, TxnMetadata, TxnReply, TxnShard};
