use super::tests::Driver;
use super::*;

fn markers_epochs(markers: &[TxnReply]) -> Vec<(i64, i16, bool, usize)> {
    markers
        .iter()
        .map(
            |TxnReply::WriteMarkers {
                 producer_id,
                 producer_epoch,
                 commit,
                 partitions,
                 ..
             }| (*producer_id, *producer_epoch, *commit, partitions.len()),
        )
        .collect()
}

#[test]
fn every_end_txn_bumps_the_epoch_and_markers_carry_it() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    assert_eq!(pe, (101, 0));
    // Produce adds the partitions implicitly; the record says version 2.
    d.add_v2("tx", pe, &[("t", 0)]).unwrap();
    d.add_v2("tx", pe, &[("t", 1)]).unwrap();
    let value = &d.shard.get("tx").unwrap().value;
    assert_eq!(value.status, TxnStatus::Ongoing);
    assert_eq!(value.client_transaction_version, TRANSACTION_VERSION_2);
    let next = d.end_v2("tx", pe, true).unwrap();
    assert_eq!(next, (101, 1), "the answer names the next epoch");
    assert_eq!(d.status("tx"), Some(TxnStatus::PrepareCommit));
    // A retry while the markers are written: CONCURRENT_TRANSACTIONS, then NONE.
    assert_eq!(
        d.end_v2("tx", pe, true),
        Err(ErrorCode::CONCURRENT_TRANSACTIONS)
    );
    assert_eq!(
        markers_epochs(&d.write_markers()),
        [(101, 1, true, 2)],
        "markers at the bumped epoch"
    );
    assert_eq!(d.status("tx"), Some(TxnStatus::CompleteCommit));
    assert_eq!(d.end_v2("tx", pe, true), Ok((101, 1)), "a retry succeeds");
    assert_eq!(d.end_v2("tx", pe, false), Err(ErrorCode::INVALID_TXN_STATE));
    // The old epoch can no longer add: the late writes of the last transaction are fenced.
    assert_eq!(
        d.add_v2("tx", pe, &[("t", 0)]),
        Err(ErrorCode::PRODUCER_FENCED)
    );
    // The next transaction runs at the new epoch.
    d.add_v2("tx", next, &[("t", 0)]).unwrap();
    assert_eq!(d.end_v2("tx", next, false), Ok((101, 2)));
    assert_eq!(markers_epochs(&d.write_markers()), [(101, 2, false, 1)]);
    assert_eq!(d.end_v2("tx", next, false), Ok((101, 2)), "abort retried");
}

#[test]
fn an_abort_with_nothing_open_still_bumps() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    assert_eq!(
        d.end_v2("tx", pe, true),
        Err(ErrorCode::INVALID_TXN_STATE),
        "nothing to commit"
    );
    let next = d.end_v2("tx", pe, false).unwrap();
    assert_eq!(next, (pe.0, pe.1 + 1));
    assert_eq!(
        markers_epochs(&d.write_markers()),
        [(pe.0, pe.1 + 1, false, 0)]
    );
    assert_eq!(d.status("tx"), Some(TxnStatus::CompleteAbort));
    // Another empty abort at the new epoch bumps again; the old epoch is a retry.
    assert_eq!(d.end_v2("tx", pe, false), Ok(next));
    assert_eq!(d.end_v2("tx", next, false), Ok((pe.0, pe.1 + 2)));
}

#[test]
fn fenced_and_unknown_producers_get_kafkas_errors() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    d.add_v2("tx", pe, &[("t", 0)]).unwrap();
    assert_eq!(
        d.end_v2("tx", (pe.0, pe.1 + 1), true),
        Err(ErrorCode::PRODUCER_FENCED),
        "an epoch ahead of the coordinator"
    );
    assert_eq!(
        d.end_v2("tx", (999, pe.1), true),
        Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        d.end_v2("nope", pe, true),
        Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING)
    );
    // A new producer of the id fences the old one, whose EndTxn then fails.
    assert_eq!(d.init("tx", None), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    d.write_markers();
    let new = d.init("tx", None).unwrap();
    assert!(new.1 > pe.1 + 1);
    assert_eq!(d.end_v2("tx", pe, true), Err(ErrorCode::PRODUCER_FENCED));
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    // Bring the epoch to the last usable one, as 32 766 transactions would.
    let mut value = d.shard.get("tx").unwrap().value.clone();
    value.producer_epoch = EPOCH_MAX;
    d.apply(TxnEffects {
        records: vec![TxnShard::record("tx", value)],
        ..TxnEffects::default()
    });
    let last = (pe.0, EPOCH_MAX);
    d.add_v2("tx", last, &[("t", 0)]).unwrap();
    let (r, e) = d.shard.end_txn_v2(d.now, "tx", last.0, last.1, true, None);
    assert_eq!(
        r,
        Err(ErrorCode::CONCURRENT_TRANSACTIONS),
        "no fresh id drawn yet"
    );
    assert!(e.is_empty());
    let next = d.end_v2("tx", last, true).unwrap();
    assert_ne!(next.0, pe.0, "a new producer id");
    assert_eq!(next.1, 0);
    assert_eq!(
        markers_epochs(&d.write_markers()),
        [(pe.0, i16::MAX, true, 1)],
        "the old id's markers fence it for good"
    );
    let value = &d.shard.get("tx").unwrap().value;
    assert_eq!(
        (
            value.producer_id,
            value.producer_epoch,
            value.previous_producer_id
        ),
        (next.0, 0, pe.0)
    );
    assert_eq!(
        d.end_v2("tx", last, true),
        Ok(next),
        "retry of the overflow"
    );
    let (r, _) = d.shard.end_txn_v2(d.now, "tx", next.0, 0, false, None);
    assert_eq!(
        r,
        Ok((next.0, 1)),
        "not exhausted: no fresh id needed (effects dropped)"
    );
    d.add_v2("tx", next, &[("t", 0)]).unwrap();
    assert_eq!(d.end_v2("tx", next, true), Ok((next.0, 1)));
    // The log rebuilds the same state.
    let rebuilt = d.rebuilt();
    assert_eq!(rebuilt.get("tx"), d.shard.get("tx"));
}

#[test]
fn version_1_and_version_2_requests_share_one_state() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    // A version-1 transaction (AddPartitionsToTxn, EndTxn v4) keeps its epoch...
    d.add("tx", pe, &[("t", 0)]).unwrap();
    d.end("tx", pe, true).unwrap();
    assert_eq!(markers_epochs(&d.write_markers()), [(pe.0, pe.1, true, 1)]);
    // ...and a version-2 one after it bumps.
    d.add_v2("tx", pe, &[("t", 0)]).unwrap();
    assert_eq!(d.end_v2("tx", pe, true), Ok((pe.0, pe.1 + 1)));
}
