//! Any text as `kafka-reassign-partitions.sh`'s files (the reassignment JSON and the
//! topics-to-move JSON): reading never panics, and a reassignment read, written back in
//! Kafka's layout, reads as the same partitions and replicas.
#![no_main]

use kavka_cli::reassign_json::{format, parse_reassignment, parse_topics, Assignment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_topics(text);
    if let Ok(partitions) = parse_reassignment(text) {
        let assignment: Assignment = partitions.into_iter().collect();
        let again: Assignment = parse_reassignment(&format(&assignment))
            .expect("a written reassignment reads back")
            .into_iter()
            .collect();
        assert_eq!(again, assignment);
    }
});
