//! The transaction coordinator: its records (`__transaction_state`, Kafka's TransactionLog
//! formats) and its state machine, one [`TxnShard`] per partition (transactions versions 1
//! and 2). The broker runs the shards on its coordinator runtime (`txn_coordinator`).

pub mod records;
mod shard;

pub use records::{TxnLogValue, TxnRecord, TxnStatus};
pub use shard::{TxnConfig, TxnEffects, TxnMetadata, TxnReply, TxnShard, TRANSACTION_VERSION_2};
