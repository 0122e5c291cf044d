//! Small conversions between Rust strings and the generated messages' string types.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::{GroupId, TopicName};

/// A wire string.
pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A topic name.
pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// A group id.
pub(crate) fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

/// Groups `(topic, partition, ..)` items by topic, keeping first-appearance order of topics.
pub(crate) fn by_topic<T: Clone>(items: &[(String, T)]) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, v)) => v.push(item.clone()),
            None => out.push((topic.clone(), vec![item.clone()])),
        }
    }
    out
}
