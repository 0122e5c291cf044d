//! Any bytes as a `__transaction_state` record (the first byte splits key from value; an odd
//! second byte makes the value a tombstone): decoding never panics, and what decodes encodes
//! back to a record that decodes the same.
#![no_main]

use kavka_coordinator::txn::TxnRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 || data.len() > 32_000 {
        return;
    }
    let split = usize::from(data[0]).min(data.len() - 2) + 2;
    let (key, value) = data[2..].split_at(split - 2);
    let value = (data[1] & 1 == 0).then_some(value);
    if let Ok(Some(record)) = TxnRecord::decode(key, value) {
        let again = TxnRecord::decode(&record.encode_key(), record.encode_value().as_deref())
            .expect("a re-encoded record decodes")
            .expect("a re-encoded record is known");
        assert_eq!(again, record);
    }
});
