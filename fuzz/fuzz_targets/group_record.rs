//! Any bytes as a `__consumer_offsets` record (the first byte splits key from value; an odd
//! second byte makes the value a tombstone): decoding never panics, and what decodes encodes
//! back to a record that decodes the same.
#![no_main]

use kavka_coordinator::group::records::GroupRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Shorter than a record string's limit, so whatever decodes can be encoded again.
    if data.len() < 2 || data.len() > kavka_coordinator::group::records::MAX_STRING_BYTES {
        return;
    }
    let split = usize::from(data[0]).min(data.len() - 2) + 2;
    let (key, value) = data[2..].split_at(split - 2);
    let value = (data[1] & 1 == 0).then_some(value);
    if let Ok(Some(record)) = GroupRecord::decode(key, value) {
        let key = record.encode_key();
        let value = record.encode_value();
        let again = GroupRecord::decode(&key, value.as_deref())
            .expect("a re-encoded record decodes")
            .expect("a re-encoded record is known");
        assert_eq!(again, record);
    }
});
