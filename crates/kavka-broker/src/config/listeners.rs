//! The listener keys, Kafka's way: `listeners` (several named listeners,
//! `NAME://host:port,...`), `listener.security.protocol.map` (each listener's protocol; only
//! PLAINTEXT is served until TLS and SASL arrive), `controller.listener.names` (the controller
//! listener among them), `advertised.listeners` (per listener, what Metadata tells the clients
//! of that listener) and `inter.broker.listener.name` (the endpoint other nodes use).

use super::quorum::{Roles, Voter};
use super::{bad, parse_endpoint, AdvertisedListener, ConfigError, Listener};

/// Kafka's default `listener.security.protocol.map`.
const PROTOCOL_MAP_DEFAULT: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// The listeners of a node, checked.
#[derive(Debug, Clone)]
pub struct Listeners {
    /// The client listeners in `listeners` order (a controller-only node: its controller
    /// listener).
    pub listeners: Vec<Listener>,
    /// One advertised endpoint per client listener, same order.
    pub advertised: Vec<AdvertisedListener>,
    /// The listener other nodes reach this one on.
    pub inter_broker: String,
    /// The controller listener, if `listeners` names one: name, host, port.
    pub controller: Option<(String, String, u16)>,
}

/// The values the listener keys have (`None`: not given).
pub struct Given<'a> {
    /// `listeners` (its default when not given).
    pub listeners: &'a str,
    /// `listener.security.protocol.map`.
    pub protocol_map: Option<&'a str>,
    /// `controller.listener.names`.
    pub controller_names: Option<&'a str>,
    /// `advertised.listeners`.
    pub advertised: Option<&'a str>,
    /// `inter.broker.listener.name`.
    pub inter_broker: Option<&'a str>,
}

fn names(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn protocol_map(value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    const KEY: &str = "listener.security.protocol.map";
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, protocol) = item
                .split_once(':')
                .ok_or_else(|| bad(KEY, value, "expected NAME:PROTOCOL,..."))?;
            Ok((
                name.trim().to_ascii_uppercase(),
                protocol.trim().to_ascii_uppercase(),
            ))
        })
        .collect()
}

/// Checks the listener keys against the node's roles; `voter` is this node's own entry in
/// `controller.quorum.voters`, if any.
pub fn listeners(
    given: &Given<'_>,
    roles: Roles,
    voter: Option<&Voter>,
) -> Result<Listeners, ConfigError> {
    let value = given.listeners;
    let controller_names = names(given.controller_names);
    let map = protocol_map(given.protocol_map.unwrap_or(PROTOCOL_MAP_DEFAULT))?;
    let protocol = |name: &str| map.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_str());
    let mut listeners: Vec<Listener> = Vec::new();
    let mut controller = None;
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, host, port) = parse_endpoint("listeners", item)?;
        if listeners.iter().any(|l| l.name == name)
            || controller.as_ref().is_some_and(|(n, _, _)| *n == name)
        {
            return Err(bad(
                "listeners",
                value,
                &format!("listener {name} is named twice"),
            ));
        }
        match protocol(&name) {
            Some("PLAINTEXT") => {}
            // A controller listener left out of the map is PLAINTEXT.
            None if controller_names.contains(&name) => {}
            None => {
                return Err(bad(
                    "listener.security.protocol.map",
                    given.protocol_map.unwrap_or(PROTOCOL_MAP_DEFAULT),
                    &format!("no security protocol for listener {name}"),
                ))
            }
            Some(p) => {
                return Err(bad(
                    "listeners",
                    value,
                    &format!(
                        "listener {name}: security protocol {p} is not served yet (PLAINTEXT only)"
                    ),
                ))
            }
        }
        if controller_names.contains(&name) {
            if !roles.controller {
                return Err(bad(
                    "listeners",
                    value,
                    &format!("listener {name} is a controller listener but process.roles has no controller"),
                ));
            }
            controller = Some((name, host, port));
            continue;
        }
        if !roles.broker {
            return Err(bad(
                "listeners",
                value,
                &format!("listener {name}: a controller-only node listens on its controller listener only (controller.listener.names)"),
            ));
        }
        listeners.push(Listener { name, host, port });
    }
    if !roles.broker {
        // Its one listener is the controller listener: voters and observers speak the
        // controller channel there, brokers send it their controller requests.
        if controller.is_none() {
            let me = voter.expect("a controller-only node is a voter (checked before)");
            controller = Some(("CONTROLLER".to_string(), me.host.clone(), me.port));
        }
        let (name, host, port) = controller.clone().expect("just set");
        listeners.push(Listener { name, host, port });
    }
    if listeners.is_empty() {
        return Err(bad("listeners", value, "no client listener"));
    }
    let inter_broker = match given.inter_broker.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let name = name.to_ascii_uppercase();
            if !listeners.iter().any(|l| l.name == name) {
                return Err(bad(
                    "inter.broker.listener.name",
                    &name,
                    "not one of the client listeners in listeners",
                ));
            }
            name
        }
        None => listeners
            .iter()
            .find(|l| l.name == "PLAINTEXT")
            .unwrap_or(&listeners[0])
            .name
            .clone(),
    };
    let advertised = advertised(given.advertised, &listeners, &controller_names)?;
    Ok(Listeners {
        listeners,
        advertised,
        inter_broker,
        controller,
    })
}

/// Each client listener's advertised endpoint: `advertised.listeners`' entry of that name, or
/// the listener itself (`localhost` for a wildcard host).
fn advertised(
    value: Option<&str>,
    listeners: &[Listener],
    controller_names: &[String],
) -> Result<Vec<AdvertisedListener>, ConfigError> {
    const KEY: &str = "advertised.listeners";
    let mut given: Vec<(String, String, u16)> = Vec::new();
    let value = value.unwrap_or("");
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, host, port) = parse_endpoint(KEY, item)?;
        if controller_names.contains(&name) && !listeners.iter().any(|l| l.name == name) {
            continue;
        }
        if !listeners.iter().any(|l| l.name == name) {
            return Err(bad(
                KEY,
                value,
                &format!("{name} is not a listener in listeners"),
            ));
        }
        given.push((name, host, port));
    }
    Ok(listeners
        .iter()
        .map(|l| match given.iter().find(|(n, _, _)| *n == l.name) {
            Some((name, host, port)) => AdvertisedListener {
                name: name.clone(),
                host: host.clone(),
                port: *port,
            },
            None => AdvertisedListener {
                name: l.name.clone(),
                host: match l.host.as_str() {
                    "" | "0.0.0.0" | "::" => "localhost".to_string(),
                    h => h.to_string(),
                },
                port: l.port,
            },
        })
        .collect())
}
