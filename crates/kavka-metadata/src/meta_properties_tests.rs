use super::*;

#[test]
fn load_of_an_unformatted_directory_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(MetaProperties::load(tmp.path()).unwrap(), None);
    assert_eq!(
        MetaProperties::load(&tmp.path().join("missing")).unwrap(),
        None
    );
}

#[test]
fn format_then_load_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let written = MetaProperties::format(&dir, 3).unwrap();
    assert_eq!(written.version, 1);
    assert_eq!(written.node_id, 3);
    assert_eq!(written.cluster_id.len(), 22);
    assert!(kafka_uuid_from_str(&written.cluster_id).is_some());
    assert!(written.directory_id.is_some());
    assert_eq!(MetaProperties::load(&dir).unwrap(), Some(written));
    assert!(!dir.join("meta.properties.tmp").exists());
}

#[test]
fn format_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let first = MetaProperties::format(tmp.path(), 1).unwrap();
    let err = MetaProperties::format(tmp.path(), 2).unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyFormatted { .. }),
        "{err}"
    );
    assert_eq!(MetaProperties::load(tmp.path()).unwrap(), Some(first));
}

#[test]
fn written_text_has_kafka_keys() {
    let properties = MetaProperties {
        version: 1,
        cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
        node_id: 1,
        directory_id: Some(Uuid::from_u64_pair(0, 1)),
    };
    let text = properties.to_properties();
    for line in [
        "version=1",
        "cluster.id=MkU3OEVBNTcwNTJENDM2Qg",
        "node.id=1",
        "directory.id=AAAAAAAAAAAAAAAAAAAAAQ",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in {text}");
    }
    assert_eq!(MetaProperties::parse(&text), Ok(properties));
}

#[test]
fn parse_is_tolerant_of_java_properties_syntax() {
    // As Kafka writes it: a date comment, keys in any order, no directory.id (pre-3.7).
    let text = "#\n#Tue Jan 02 10:00:00 UTC 2024\n\n  node.id = 7\n! other comment\n\
                cluster.id:my-cluster\nversion=1\nsome.future.key=x\n";
    assert_eq!(
        MetaProperties::parse(text),
        Ok(MetaProperties {
            version: 1,
            cluster_id: "my-cluster".into(),
            node_id: 7,
            directory_id: None,
        })
    );
}

#[test]
fn parse_rejects_missing_or_bad_values() {
    let base = "version=1\ncluster.id=c\nnode.id=1\n";
    assert!(MetaProperties::parse(base).is_ok());
    for (text, reason) in [
        ("cluster.id=c\nnode.id=1\n", "missing version"),
        (
            "version=0\ncluster.id=c\nnode.id=1\n",
            "unsupported version",
        ),
        ("version=1\nnode.id=1\n", "missing cluster.id"),
        ("version=1\ncluster.id=\nnode.id=1\n", "missing cluster.id"),
        ("version=1\ncluster.id=c\n", "missing node.id"),
        ("version=1\ncluster.id=c\nnode.id=x\n", "invalid node.id"),
        ("version=1\ncluster.id=c\nnode.id=-1\n", "invalid node.id"),
        (
            &format!("{base}directory.id=nope\n"),
            "invalid directory.id",
        ),
        (&format!("{base}garbage\n"), "line without"),
    ] {
        let err = MetaProperties::parse(text).unwrap_err();
        assert!(err.contains(reason), "{text:?}: {err}");
    }
}

#[test]
fn load_reports_a_corrupt_file_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(META_PROPERTIES_FILE_NAME), "version=1\n").unwrap();
    let err = MetaProperties::load(tmp.path()).unwrap_err();
    assert!(matches!(err, MetadataError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("meta.properties"), "{err}");
}
