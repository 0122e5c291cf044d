use super::*;

fn key(partition: i32) -> PartitionKey {
    PartitionKey {
        topic: TopicKey::Id(uuid::Uuid::from_u128(7)),
        partition,
    }
}

fn params(fetch_offset: i64) -> FetchParams {
    FetchParams {
        fetch_offset,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
        log_start_offset: -1,
        max_bytes: 1 << 20,
    }
}

fn answered(n: i32) -> Vec<(PartitionKey, FetchParams, Answer)> {
    (0..n)
        .map(|p| {
            let a = Answer {
                has_records: false,
                high_watermark: 0,
                log_start_offset: 0,
                error: false,
                diverging: false,
                quiet: None,
            };
            (key(p), params(0), a)
        })
        .collect()
}

fn request(session_id: i32, epoch: i32) -> SessionRequest {
    SessionRequest {
        session_id,
        epoch,
        privileged: false,
        uses_topic_ids: true,
    }
}

fn code(context: &FetchContext) -> Option<ErrorCode> {
    match context {
        FetchContext::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn a_session_is_opened_used_in_epoch_order_and_closed() {
    let cache = FetchSessionCache::new(10);
    let (ctx, fetches) = cache.context(request(0, INITIAL_EPOCH), &[], &[], 0);
    assert!(matches!(
        ctx,
        FetchContext::Full {
            privileged: false,
            uses_topic_ids: true
        }
    ));
    assert!(fetches.is_none());
    let id = cache.open(false, true, &answered(3), 0);
    assert_ne!(id, 0);

    // Epoch 1 updates partition 1 and forgets partition 2.
    let (ctx, fetches) = cache.context(request(id, 1), &[(key(1), params(9))], &[key(2)], 5);
    assert!(matches!(ctx, FetchContext::Incremental { epoch: 2, .. }));
    assert_eq!(
        fetches.unwrap(),
        vec![(key(0), params(0)), (key(1), params(9))]
    );

    // The same epoch again (a retried request) is refused, so is an unknown id.
    let (ctx, _) = cache.context(request(id, 1), &[], &[], 6);
    assert_eq!(code(&ctx), Some(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
    let (ctx, _) = cache.context(request(id ^ 1, 2), &[], &[], 6);
    assert_eq!(code(&ctx), Some(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    // An older request version (topics by name) cannot use a session of topic ids.
    let by_name = SessionRequest {
        uses_topic_ids: false,
        ..request(id, 2)
    };
    let (ctx, _) = cache.context(by_name, &[], &[], 6);
    assert_eq!(code(&ctx), Some(ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR));

    // Forgetting every partition closes it.
    let (ctx, fetches) = cache.context(request(id, 2), &[], &[key(0), key(1)], 7);
    assert!(matches!(ctx, FetchContext::Sessionless));
    assert_eq!(fetches.unwrap(), vec![]);
    assert!(cache.is_empty());
}

#[test]
fn a_full_fetch_closes_the_session_it_names() {
    let cache = FetchSessionCache::new(10);
    let id = cache.open(false, true, &answered(1), 0);
    let (ctx, _) = cache.context(request(id, FINAL_EPOCH), &[], &[], 1);
    assert!(matches!(ctx, FetchContext::Sessionless));
    assert!(cache.is_empty());
    let id = cache.open(false, true, &answered(1), 0);
    let (ctx, _) = cache.context(request(id, INITIAL_EPOCH), &[], &[], 1);
    assert!(matches!(ctx, FetchContext::Full { .. }));
    assert!(cache.is_empty());
}

#[test]
fn a_full_cache_gives_way_to_stale_then_to_more_valuable_sessions() {
    let cache = FetchSessionCache::new(2);
    let small = cache.open(false, true, &answered(1), 0);
    let big = cache.open(false, true, &answered(5), 0);
    // Young sessions are kept against another consumer, even a bigger one.
    assert_eq!(cache.open(false, true, &answered(9), 10), 0);
    // A follower displaces a young consumer session: the cheapest one.
    let follower = cache.open(true, true, &answered(1), 10);
    assert_ne!(follower, 0);
    let (ctx, _) = cache.context(request(small, 1), &[], &[], 11);
    assert_eq!(code(&ctx), Some(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    // A consumer cannot displace a young follower's session nor a young consumer's.
    assert_eq!(cache.open(false, true, &answered(50), 20), 0);
    // Once old enough, a consumer session is displaced by a bigger one.
    let later = EVICTION_MS + 5;
    for id in [follower, big] {
        let (ctx, _) = cache.context(request(id, 1), &[], &[], later);
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
    }
    assert_eq!(
        cache.open(false, true, &answered(5), later),
        0,
        "same size: kept"
    );
    let bigger = cache.open(false, true, &answered(6), later);
    assert_ne!(bigger, 0);
    let (ctx, _) = cache.context(request(big, 2), &[], &[], later);
    assert_eq!(code(&ctx), Some(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    // A session unused for the eviction time goes to anyone.
    let much_later = later + EVICTION_MS + 1;
    let (ctx, _) = cache.context(request(bigger, 1), &[], &[], much_later);
    assert!(matches!(ctx, FetchContext::Incremental { .. }));
    assert_ne!(cache.open(false, true, &answered(1), much_later), 0);
    let (ctx, _) = cache.context(request(follower, 2), &[], &[], much_later);
    assert_eq!(code(&ctx), Some(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
}

#[test]
fn no_slots_means_no_sessions() {
    let cache = FetchSessionCache::new(0);
    assert_eq!(cache.open(true, true, &answered(3), 0), 0);
}
