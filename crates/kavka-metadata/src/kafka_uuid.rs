//! Kafka's string form of a UUID: the 16 bytes in base64url without padding (22 characters), as
//! `org.apache.kafka.common.Uuid#toString`. Used for topic ids in tools and logs, and for the
//! cluster id and directory id in `meta.properties`.

use uuid::Uuid;

/// The base64url alphabet (RFC 4648 §5).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Length of the string form: ceil(128 / 6).
pub const KAFKA_UUID_STRING_LEN: usize = 22;

/// Kafka's reserved id of the metadata topic (`Uuid.METADATA_TOPIC_ID`, 0x…01); never a topic id.
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// Encodes `id` as Kafka does: 22 characters of base64url, no padding.
pub fn kafka_uuid_to_string(id: &Uuid) -> String {
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(KAFKA_UUID_STRING_LEN);
    // Five 3-byte groups give 20 characters; the 16th byte gives the last 2 (4 zero pad bits).
    for group in bytes[..15].chunks_exact(3) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(ALPHABET[(n >> shift & 0x3f) as usize]));
        }
    }
    let last = bytes[15];
    out.push(char::from(ALPHABET[usize::from(last >> 2)]));
    out.push(char::from(ALPHABET[usize::from((last & 0x03) << 4)]));
    debug_assert_eq!(out.len(), KAFKA_UUID_STRING_LEN);
    out
}

/// The same as [`kafka_uuid_to_string`], named for the broker's most common use.
pub fn topic_id_to_string(topic_id: &Uuid) -> String {
    kafka_uuid_to_string(topic_id)
}

/// Parses Kafka's string form. `None` unless `s` is exactly 22 base64url characters in
/// canonical form (the 4 unused bits of the last character zero), so that parse and print are
/// inverse.
pub fn kafka_uuid_from_str(s: &str) -> Option<Uuid> {
    let s = s.as_bytes();
    if s.len() != KAFKA_UUID_STRING_LEN {
        return None;
    }
    let mut value: u128 = 0;
    for &c in &s[..KAFKA_UUID_STRING_LEN - 1] {
        value = value << 6 | u128::from(sextet(c)?);
    }
    let last = sextet(s[KAFKA_UUID_STRING_LEN - 1])?;
    if last & 0x0f != 0 {
        return None;
    }
    value = value << 2 | u128::from(last >> 4);
    Some(Uuid::from_u128(value))
}

/// A random UUID that Kafka would also generate: not nil, not [`METADATA_TOPIC_ID`], and whose
/// string form does not start with `-` (it would read as a command-line flag), as
/// `Uuid.randomUuid()`.
pub fn random_kafka_uuid() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if id != Uuid::nil() && id != METADATA_TOPIC_ID && id.as_bytes()[0] >> 2 != 62 {
            return id;
        }
    }
}

/// Value of one base64url character, `None` outside the alphabet.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values_match_kafka() {
        // Kafka's Uuid.METADATA_TOPIC_ID.toString() and Uuid.ZERO_UUID.toString().
        assert_eq!(
            kafka_uuid_to_string(&METADATA_TOPIC_ID),
            "AAAAAAAAAAAAAAAAAAAAAQ"
        );
        assert_eq!(kafka_uuid_to_string(&Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(kafka_uuid_to_string(&Uuid::max()), "_____________________w");
        assert_eq!(
            kafka_uuid_from_str("AAAAAAAAAAAAAAAAAAAAAQ"),
            Some(METADATA_TOPIC_ID)
        );
    }

    #[test]
    fn rejects_malformed_strings() {
        for bad in [
            "",
            "AAAAAAAAAAAAAAAAAAAAA",   // 21
            "AAAAAAAAAAAAAAAAAAAAAAA", // 23
            "AAAAAAAAAAAAAAAAAAAAA=",  // padding char
            "AAAAAAAAAAAAAAAAAAAA+A",  // standard (not url) alphabet
            "AAAAAAAAAAAAAAAAAAAAAB",  // non-zero pad bits
            "AAAAAAAAAAAAAAAAAAAAé",   // non-ASCII, 22 bytes
        ] {
            assert_eq!(kafka_uuid_from_str(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn random_ids_are_usable() {
        for _ in 0..1000 {
            let id = random_kafka_uuid();
            let s = kafka_uuid_to_string(&id);
            assert!(!s.starts_with('-'), "{s}");
            assert_eq!(kafka_uuid_from_str(&s), Some(id));
        }
    }

    proptest! {
        #[test]
        fn string_round_trips(n in any::<u128>()) {
            let id = Uuid::from_u128(n);
            let s = kafka_uuid_to_string(&id);
            prop_assert_eq!(s.len(), KAFKA_UUID_STRING_LEN);
            prop_assert_eq!(kafka_uuid_from_str(&s), Some(id));
        }

        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = kafka_uuid_from_str(&s);
        }
    }
}
