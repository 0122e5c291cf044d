//! Reading broker keys through their table row: every given value is checked against its row
//! once, then read typed, with the row's default when not given. No value is re-parsed with a
//! fallback: a key read here that the table lacks, or a value that passed its check and then
//! does not parse, is a bug and panics (the unit tests read every key).

use std::collections::BTreeMap;

use super::keys::{broker_key, BrokerKey, Effect};
use super::ConfigError;
use crate::topic_config::{rule_reason, Rule};

/// The given broker keys, checked.
pub(super) struct Values<'a> {
    map: &'a BTreeMap<String, String>,
}

impl<'a> Values<'a> {
    /// Checks every given key the table knows (keys accepted without effect are not read).
    pub(super) fn check(map: &'a BTreeMap<String, String>) -> Result<Values<'a>, ConfigError> {
        for (name, value) in map {
            let Some(row) = broker_key(name) else {
                continue;
            };
            if row.effect == Effect::Ignored {
                continue;
            }
            rule_reason(row.rule, value).map_err(|reason| ConfigError::Value {
                key: name.clone(),
                value: value.clone(),
                reason,
            })?;
        }
        Ok(Values { map })
    }

    fn row(name: &str) -> &'static BrokerKey {
        broker_key(name).unwrap_or_else(|| panic!("broker key {name} is not in the table"))
    }

    /// The given value, else the default (`None` for neither).
    pub(super) fn text(&self, name: &str) -> Option<&'a str> {
        let row = Self::row(name);
        self.map.get(name).map(|v| v.trim()).or(row.default)
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> T {
        let text = self
            .text(name)
            .unwrap_or_else(|| panic!("broker key {name} has no default"));
        text.parse()
            .unwrap_or_else(|_| panic!("broker key {name}: checked value {text:?} does not parse"))
    }

    /// An INT key.
    pub(super) fn i32(&self, name: &str) -> i32 {
        debug_assert!(matches!(Self::row(name).rule, Rule::Int(_)), "{name}");
        self.number(name)
    }

    /// A non-negative INT or LONG key.
    pub(super) fn u64(&self, name: &str) -> u64 {
        let min = match Self::row(name).rule {
            Rule::Int(min) => i64::from(min),
            Rule::Long(min) => min,
            _ => panic!("broker key {name} is not a number"),
        };
        assert!(min >= 0, "broker key {name} may be negative");
        self.number(name)
    }

    /// A BOOLEAN key.
    pub(super) fn bool(&self, name: &str) -> bool {
        let text = self
            .text(name)
            .unwrap_or_else(|| panic!("broker key {name} has no default"));
        text.eq_ignore_ascii_case("true")
    }
}
