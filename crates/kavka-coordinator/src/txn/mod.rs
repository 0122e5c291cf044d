//! The transaction coordinator's records (`__transaction_state`, Kafka's TransactionLog
//! formats). The state machine that emits them, its broker runtime and the transaction APIs
//! come next; until then nothing writes these records and no transaction API is served.

pub mod records;

pub use records::{TxnLogValue, TxnRecord, TxnStatus};
