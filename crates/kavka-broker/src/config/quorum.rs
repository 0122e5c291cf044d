//! The cluster wiring keys: `process.roles`, `controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers`, and the rules Kafka puts between them.
//!
//! - A node with the controller role and several voters (or controller-only with one) is a
//!   voter of the Raft quorum and must be named in `controller.quorum.voters`.
//! - A broker-only node is an observer: it must not be a voter and needs the controllers'
//!   addresses, from `controller.quorum.voters` or `controller.quorum.bootstrap.servers`.
//! - A combined node alone (no voters, or itself as the only one) keeps the local log.

use super::{bad, ConfigError};

/// `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Serves clients and hosts partitions.
    pub broker: bool,
    /// Votes in the metadata quorum (and decides as its leader).
    pub controller: bool,
}

impl Roles {
    /// Both roles in one process, the default.
    pub fn is_combined(self) -> bool {
        self.broker && self.controller
    }
}

/// Parses `process.roles` (`broker`, `controller` or both, comma-separated).
pub fn roles(value: &str) -> Result<Roles, ConfigError> {
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for r in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        match r {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            _ => return Err(bad("process.roles", value, &format!("unknown role {r}"))),
        }
    }
    if !roles.broker && !roles.controller {
        return Err(bad(
            "process.roles",
            value,
            "expected broker, controller or broker,controller",
        ));
    }
    Ok(roles)
}

/// A voter of the metadata quorum, from `controller.quorum.voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// Its node id.
    pub id: i32,
    /// Host of its controller channel.
    pub host: String,
    /// Port of its controller channel.
    pub port: u16,
}

impl Voter {
    /// `host:port` to connect to.
    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn parse_host_port(key: &str, value: &str, item: &str) -> Result<(String, u16), ConfigError> {
    let expected = || bad(key, value, "expected host:port");
    let (host, port) = item.rsplit_once(':').ok_or_else(expected)?;
    let port: u16 = port.parse().map_err(|_| expected())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(expected());
    }
    Ok((host.to_string(), port))
}

/// `controller.quorum.voters`, parsed as Kafka's `id@host:port` list, checked against this
/// node's roles: a controller is one of the voters (when there are any), a broker-only node
/// is none of them.
pub fn voters(value: Option<&str>, node_id: i32, roles: Roles) -> Result<Vec<Voter>, ConfigError> {
    const KEY: &str = "controller.quorum.voters";
    let value = value.map(str::trim).unwrap_or_default();
    let mut voters: Vec<Voter> = Vec::new();
    for voter in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let expected = || bad(KEY, value, "expected id@host:port");
        let (id, endpoint) = voter.split_once('@').ok_or_else(expected)?;
        let id: i32 = id
            .parse()
            .map_err(|_| bad(KEY, value, "a voter id is not a number"))?;
        let (host, port) = parse_host_port(KEY, value, endpoint).map_err(|_| expected())?;
        if id < 0 {
            return Err(expected());
        }
        if voters.iter().any(|v| v.id == id) {
            return Err(bad(KEY, value, &format!("voter {id} is named twice")));
        }
        voters.push(Voter { id, host, port });
    }
    let named = voters.iter().any(|v| v.id == node_id);
    if roles.controller && !voters.is_empty() && !named {
        return Err(bad(
            KEY,
            value,
            &format!("this node (node.id {node_id}) has the controller role but is not a voter"),
        ));
    }
    if !roles.controller && named {
        return Err(bad(
            KEY,
            value,
            &format!(
                "this node (node.id {node_id}) is a voter but process.roles has no controller"
            ),
        ));
    }
    if roles.controller && !roles.broker && voters.is_empty() {
        return Err(bad(
            KEY,
            value,
            "a controller-only node needs the voters of its quorum",
        ));
    }
    Ok(voters)
}

/// `controller.quorum.bootstrap.servers`: `host:port` of controllers a broker-only node asks
/// for the quorum's leader (KIP-853's way of finding it without the voter ids).
pub fn bootstrap_servers(value: Option<&str>) -> Result<Vec<(String, u16)>, ConfigError> {
    const KEY: &str = "controller.quorum.bootstrap.servers";
    let value = value.map(str::trim).unwrap_or_default();
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| parse_host_port(KEY, value, item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKER: Roles = Roles {
        broker: true,
        controller: false,
    };
    const CONTROLLER: Roles = Roles {
        broker: false,
        controller: true,
    };

    #[test]
    fn roles_parse_in_any_order() {
        assert!(roles("controller,broker").unwrap().is_combined());
        assert_eq!(roles(" broker ").unwrap(), BROKER);
        assert_eq!(roles("controller").unwrap(), CONTROLLER);
        assert!(roles("zookeeper")
            .unwrap_err()
            .to_string()
            .contains("unknown role"));
        assert!(roles("").is_err());
    }

    #[test]
    fn voters_follow_the_roles() {
        let three = Some("1@a:9093,2@b:9093,3@c:9093");
        assert_eq!(voters(three, 2, CONTROLLER).unwrap().len(), 3);
        assert_eq!(voters(three, 4, BROKER).unwrap().len(), 3);
        let e = voters(three, 2, BROKER).unwrap_err().to_string();
        assert!(e.contains("has no controller"), "{e}");
        let e = voters(three, 4, CONTROLLER).unwrap_err().to_string();
        assert!(e.contains("not a voter"), "{e}");
        let e = voters(None, 4, CONTROLLER).unwrap_err().to_string();
        assert!(e.contains("controller-only"), "{e}");
        assert_eq!(voters(three, 1, CONTROLLER).unwrap()[1].address(), "b:9093");
    }

    #[test]
    fn bootstrap_servers_are_host_port_lists() {
        assert_eq!(
            bootstrap_servers(Some("a:9093, [::1]:9094")).unwrap(),
            vec![("a".to_string(), 9093), ("::1".to_string(), 9094)]
        );
        assert!(bootstrap_servers(Some("a")).is_err());
        assert!(bootstrap_servers(None).unwrap().is_empty());
    }
}
