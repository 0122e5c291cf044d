//! What the tools share: Java properties files and `key=value` flags, client set-up, Kafka's
//! topic filters, timestamps as Kafka's tools print and parse them.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use kavka_client::{Client, ClientConfig};
use regex::Regex;

use crate::ToolError;

/// Client properties by Kafka name (`bootstrap.servers`, `acks`, `group.id`, ...).
pub(crate) type Props = BTreeMap<String, String>;

/// Kafka's internal topics (listed and described unless `--exclude-internal`).
pub(crate) const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Kafka's default `request.timeout.ms`: how long a tool waits for the cluster before giving up.
const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// Reads a Java properties file (`--command-config`, `--producer.config`, ...).
pub(crate) fn load_properties(path: &str) -> Result<Props, ToolError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ToolError::failed(format!("cannot read properties file {path}: {e}")))?;
    let map = java_properties::read(std::io::BufReader::new(file))
        .map_err(|e| ToolError::failed(format!("cannot parse properties file {path}: {e}")))?;
    Ok(map.into_iter().collect())
}

/// Parses `key=value` arguments as Kafka's `CommandLineUtils.parseKeyValueArgs` does: split at
/// the first `=`; a key without `=` gets an empty value.
pub(crate) fn parse_key_values(args: &[String]) -> Result<Props, ToolError> {
    let mut props = Props::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                props.insert(k.to_string(), v.to_string());
            }
            None if !arg.is_empty() => {
                props.insert(arg.to_string(), String::new());
            }
            _ => {
                return Err(ToolError::usage(format!(
                    "Invalid command line properties: {}",
                    args.join(" ")
                )))
            }
        }
    }
    Ok(props)
}

/// Properties for a client: the file first, then flag overrides, then the bootstrap servers
/// given on the command line (which win, as in Kafka's tools).
pub(crate) fn client_props(
    bootstrap: Option<&str>,
    file: Option<&str>,
    overrides: &Props,
) -> Result<Props, ToolError> {
    let mut props = match file {
        Some(path) => load_properties(path)?,
        None => Props::new(),
    };
    props.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(servers) = bootstrap {
        props.insert("bootstrap.servers".into(), servers.to_string());
    }
    if props
        .get("bootstrap.servers")
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ToolError::usage("--bootstrap-server must be specified"));
    }
    Ok(props)
}

/// How long to wait for the cluster: the properties' `request.timeout.ms` or Kafka's default.
pub(crate) fn request_timeout(props: &Props) -> Duration {
    let ms = props
        .get("request.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(REQUEST_TIMEOUT_MS_DEFAULT);
    Duration::from_millis(ms)
}

/// Connects to the cluster named by `bootstrap.servers`, giving up after the request timeout
/// with one clear line rather than hanging.
pub(crate) async fn connect(props: &Props, client_id: &str) -> Result<Client, ToolError> {
    let mut props = props.clone();
    props
        .entry("client.id".into())
        .or_insert_with(|| client_id.to_string());
    let config = ClientConfig::from_properties(&props)?;
    let servers = props.get("bootstrap.servers").cloned().unwrap_or_default();
    let timeout = request_timeout(&props);
    match tokio::time::timeout(timeout, Client::connect(config)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ToolError::failed(format!(
            "cannot connect to {servers}: no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Kafka's topic filter (`TopicFilter.IncludeList`): a Java regex matched against the whole
/// name, with `,` meaning `|`, spaces and surrounding quotes dropped.
#[derive(Debug, Clone)]
pub(crate) struct IncludeList {
    regex: Regex,
}

impl IncludeList {
    /// Compiles a filter; a bad pattern is a usage error named as Kafka names it.
    pub(crate) fn new(raw: &str) -> Result<IncludeList, ToolError> {
        let cleaned = raw.trim().replace(',', "|").replace(' ', "");
        let cleaned = cleaned.trim_start_matches(['"', '\'']);
        let cleaned = cleaned.trim_end_matches(['"', '\'']);
        let regex = Regex::new(&format!("^(?:{cleaned})$"))
            .map_err(|_| ToolError::usage(format!("{raw} is an invalid regex.")))?;
        Ok(IncludeList { regex })
    }

    /// Whether a topic passes the filter.
    pub(crate) fn allows(&self, topic: &str, exclude_internal: bool) -> bool {
        self.regex.is_match(topic) && !(exclude_internal && is_internal(topic))
    }
}

/// Whether a topic is one of Kafka's internal topics.
/// The ids of the brokers the cluster lists (DescribeCluster), in order.
pub(crate) async fn broker_ids(
    admin: &kavka_client::Admin,
) -> Result<std::collections::BTreeSet<i32>, ToolError> {
    Ok(admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect())
}

pub(crate) fn is_internal(topic: &str) -> bool {
    INTERNAL_TOPICS.contains(&topic)
}

/// Becomes `true` at the first Ctrl-C (SIGINT) or SIGTERM, the two signals on which Kafka's
/// tools run their shutdown hook (a consumer then leaves its group, a producer flushes).
/// Listening starts now, so a signal that comes while a tool is busy between two waits is not
/// lost.
pub(crate) fn interrupted() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                let signalled = tokio::select! {
                    r = tokio::signal::ctrl_c() => r.is_ok(),
                    r = term.recv() => r.is_some(),
                };
                if signalled {
                    let _ = tx.send(true);
                }
                return;
            }
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
    });
    rx
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A random number (for Kafka's generated group ids such as `console-consumer-12345`).
pub(crate) fn random_below(bound: u32) -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms());
    (h.finish() % u64::from(bound.max(1))) as u32
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `yyyy-MM-dd HH:mm:ss:SSS` (UTC), the consumer perf test's date format.
pub(crate) fn format_datetime_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Parses Kafka's `YYYY-MM-DDTHH:mm:SS.sss` with an optional zone (`Z`, `+hh:mm`, `+hhmm`);
/// without a zone the time is UTC.
pub(crate) fn parse_datetime_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let mut dp = date.split('-');
    let (y, m, d) = (
        dp.next()?.parse::<i64>().ok()?,
        dp.next()?.parse::<i64>().ok()?,
        dp.next()?.parse::<i64>().ok()?,
    );
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Split off the zone.
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (c, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 {
            return None;
        }
        let hh = digits[..2].parse::<i64>().ok()?;
        let mm = digits[2..].parse::<i64>().ok()?;
        (c, sign * (hh * 3_600_000 + mm * 60_000))
    } else {
        (time, 0)
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, frac)) => {
            let frac = format!("{frac:0<3}");
            (hms, frac.get(..3)?.parse::<i64>().ok()?)
        }
        None => (clock, 0),
    };
    let mut tp = hms.split(':');
    let hh = tp.next()?.parse::<i64>().ok()?;
    let mi = tp.next()?.parse::<i64>().ok()?;
    let ss = tp.next().map_or(Some(0), |v| v.parse::<i64>().ok())?;
    if tp.next().is_some() || hh > 23 || mi > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some(days * 86_400_000 + hh * 3_600_000 + mi * 60_000 + ss * 1000 + millis - offset_ms)
}

/// Kafka's `Uuid.toString`: URL-safe base64 of the 16 bytes, without padding.
pub(crate) fn kafka_uuid(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trips() {
        let ms = parse_datetime_ms("2024-02-29T13:45:07.123").unwrap();
        assert_eq!(format_datetime_ms(ms), "2024-02-29 13:45:07:123");
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_datetime_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_datetime_ms("1970-01-01T01:00:00.5+0100"), Some(500));
        assert_eq!(parse_datetime_ms("yesterday"), None);
    }

    #[test]
    fn include_list_is_a_full_match_with_commas_as_or() {
        let f = IncludeList::new("quick.*,other").unwrap();
        assert!(f.allows("quickstart", false));
        assert!(f.allows("other", false));
        assert!(!f.allows("another", false));
        let all = IncludeList::new(".*").unwrap();
        assert!(all.allows("__consumer_offsets", false));
        assert!(!all.allows("__consumer_offsets", true));
        assert!(IncludeList::new("(").is_err());
    }

    #[test]
    fn uuid_is_base64url_without_padding() {
        assert_eq!(kafka_uuid(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(kafka_uuid(&[0xff; 16]), "_____________________w");
    }

    #[test]
    fn key_values_split_at_the_first_equals() {
        let p = parse_key_values(&["a=b=c".into(), "flag".into()]).unwrap();
        assert_eq!(p["a"], "b=c");
        assert_eq!(p["flag"], "");
        assert!(parse_key_values(&["=x".into()]).is_err());
    }
}
