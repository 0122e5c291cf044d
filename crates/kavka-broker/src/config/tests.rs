use super::*;

fn with(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::from_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn defaults_are_kafkas() {
    let c = BrokerConfig::default();
    assert_eq!(c.listener().bind_address(), "127.0.0.1:9092");
    assert_eq!(c.log_dirs, vec![PathBuf::from("./kavka-data")]);
    assert_eq!(c.num_partitions, 1);
    assert!(c.auto_create_topics_enable);
    assert_eq!(
        c.topic_defaults["segment.bytes"],
        ("1073741824".to_string(), false)
    );
    assert_eq!(c.topic_defaults["max.message.bytes"].0, "1048588");
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert!(c.log_cleaner_enable);
}

#[test]
fn kraft_style_listeners_skip_the_controller_listener() {
    let c = with(&[
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
        ("controller.listener.names", "CONTROLLER"),
        ("advertised.listeners", "PLAINTEXT://localhost:9092"),
    ])
    .unwrap();
    assert_eq!(c.listener().port, 9092);
    assert_eq!(c.advertised[0].host, "localhost");
}

#[test]
fn several_named_listeners_each_advertise_their_own_endpoint() {
    let c = with(&[
        (
            "listeners",
            "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094",
        ),
        (
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        ),
        ("advertised.listeners", "EXTERNAL://localhost:19094"),
        ("inter.broker.listener.name", "internal"),
    ])
    .unwrap();
    let names: Vec<&str> = c.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["INTERNAL", "EXTERNAL"]);
    assert_eq!(c.listener().name, "INTERNAL");
    let advertised: Vec<(&str, &str, u16)> = c
        .advertised
        .iter()
        .map(|a| (a.name.as_str(), a.host.as_str(), a.port))
        .collect();
    assert_eq!(
        advertised,
        [
            ("INTERNAL", "localhost", 9092),
            ("EXTERNAL", "localhost", 19094)
        ]
    );
    // Without inter.broker.listener.name: PLAINTEXT when there is one, else the first.
    let c = with(&[
        ("listeners", "PLAINTEXT://:1,OTHER://:2"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
        ),
    ])
    .unwrap();
    assert_eq!(c.inter_broker_listener, "PLAINTEXT");
    for (pairs, why) in [
        (
            vec![("listeners", "PLAINTEXT://:1,PLAINTEXT://:2")],
            "named twice",
        ),
        (
            vec![("listeners", "INTERNAL://:1")],
            "no security protocol for listener INTERNAL",
        ),
        (vec![("listeners", "SSL://:1")], "SSL is not served yet"),
        (
            vec![("inter.broker.listener.name", "INTERNAL")],
            "not one of the client listeners",
        ),
        (
            vec![("advertised.listeners", "EXTERNAL://h:1")],
            "EXTERNAL is not a listener",
        ),
    ] {
        let e = with(&pairs).unwrap_err().to_string();
        assert!(e.contains(why), "{pairs:?}: {e}");
    }
}

#[test]
fn bad_values_name_the_key() {
    let e = with(&[("num.partitions", "zero")]).unwrap_err().to_string();
    assert!(e.contains("num.partitions"), "{e}");
    let e = with(&[("log.segment.bytes", "-5")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("log.segment.bytes"), "{e}");
    let e = with(&[("listeners", "nonsense")]).unwrap_err().to_string();
    assert!(e.contains("listeners"), "{e}");
    let e = with(&[("auto.create.topics.enable", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("auto.create.topics.enable"), "{e}");
}

#[test]
fn cluster_wiring_not_served_yet_is_refused_not_ignored() {
    assert!(with(&[("process.roles", "controller,broker")]).is_ok());
    assert!(with(&[
        ("node.id", "4"),
        ("controller.quorum.voters", "4@localhost:9093")
    ])
    .is_ok());
    for (key, value, why) in [
        ("process.roles", "broker", "needs controller.quorum.voters"),
        (
            "process.roles",
            "broker,zookeeper",
            "unknown role zookeeper",
        ),
        ("controller.quorum.voters", "2@b:9093", "is not a voter"),
        ("controller.quorum.voters", "1@a:1,1@b:2", "named twice"),
        ("controller.quorum.voters", "1@b", "expected id@host:port"),
    ] {
        let e = with(&[(key, value)]).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains(why), "{key}={value}: {e}");
    }
}

#[test]
fn a_quorum_of_voters_binds_this_nodes_controller_channel() {
    let c = with(&[
        ("node.id", "2"),
        ("controller.quorum.voters", "1@a:9093,2@[::1]:9094,3@c:9095"),
    ])
    .unwrap();
    assert_eq!(c.voters.len(), 3);
    assert_eq!(c.controller_bind, Some(("::1".to_string(), 9094)));
    let c = with(&[
        ("node.id", "2"),
        ("controller.quorum.voters", "1@a:9093,2@b:9093"),
        ("controller.listener.names", "CONTROLLER"),
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://0.0.0.0:9093"),
    ])
    .unwrap();
    assert_eq!(c.controller_bind, Some(("0.0.0.0".to_string(), 9093)));
    assert_eq!(c.quorum_election_timeout_ms, 1000);
    // One voter, this node: no channel, the local log.
    let c = with(&[("controller.quorum.voters", "1@a:9093")]).unwrap();
    assert_eq!(c.controller_bind, None);
}

#[test]
fn separate_roles_have_their_own_listeners() {
    let voters = ("controller.quorum.voters", "1@a:9093,2@b:9093,3@c:9093");
    let names = ("controller.listener.names", "CONTROLLER");
    let c = with(&[
        ("process.roles", "controller"),
        voters,
        names,
        ("listeners", "CONTROLLER://127.0.0.1:9093"),
    ])
    .unwrap();
    assert_eq!(c.controller_bind, Some(("127.0.0.1".to_string(), 9093)));
    assert_eq!(c.listener().name, "CONTROLLER");
    let c = with(&[
        ("process.roles", "broker"),
        ("node.id", "4"),
        ("controller.quorum.bootstrap.servers", "a:9093"),
    ])
    .unwrap();
    assert_eq!(c.controller_bind, None);
    assert!(c.roles.broker && !c.roles.controller);
    let e = with(&[("process.roles", "controller"), voters, names])
        .unwrap_err()
        .to_string();
    assert!(e.contains("controller listener only"), "{e}");
    let e = with(&[
        ("process.roles", "broker"),
        ("node.id", "4"),
        voters,
        names,
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("has no controller"), "{e}");
}

#[test]
fn topic_defaults_come_from_broker_keys() {
    let c = with(&[
        ("log.flush.interval.messages", "1"),
        ("log.retention.hours", "2"),
    ])
    .unwrap();
    assert_eq!(c.topic_defaults["flush.messages"], ("1".to_string(), true));
    assert_eq!(
        c.topic_defaults["retention.ms"],
        ("7200000".to_string(), true)
    );
    let e = with(&[("log.cleanup.policy", "shred")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("log.cleanup.policy"), "{e}");
}
