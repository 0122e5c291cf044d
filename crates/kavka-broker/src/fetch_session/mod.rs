//! Fetch sessions (KIP-227): a fetcher that reads many partitions names them once, then sends
//! only the partitions whose fetch position changed, and gets back only the partitions with
//! news (records, a moved high watermark or log start offset, an error, a diverging epoch).
//! Followers use them (`replica_fetcher/session.rs`), as do clients that ask for them
//! (kafka-python, the Java consumer); a fetch with `session_epoch` -1 stays sessionless.
//!
//! How a request is taken, as Kafka's `FetchManager.newContext`:
//! - epoch -1 (final): a full fetch, no session; a session it names is closed first;
//! - epoch 0 (initial): a full fetch; a session it names is closed first, and the answer
//!   opens a new one when the cache has room (else session id 0: the fetcher stays
//!   sessionless);
//! - epoch E > 0: an incremental fetch on the session it names, which must expect E
//!   (FETCH_SESSION_ID_NOT_FOUND for an unknown id, INVALID_FETCH_SESSION_EPOCH otherwise,
//!   FETCH_SESSION_TOPIC_ID_ERROR when its version names topics differently from the request
//!   that opened the session); its partitions update the session, its forgotten topics leave
//!   it, and a session left empty is closed (the answer then has session id 0).
//!
//! The cache holds at most `max.incremental.fetch.session.cache.slots` sessions. When it is
//! full a new session takes the place of one unused for [`EVICTION_MS`], else of the least
//! valuable one it outranks (Kafka's `tryEvict`): followers' sessions outrank consumers', and
//! among equals the one caching more partitions wins; a session younger than [`EVICTION_MS`]
//! is displaced only by a follower's, and only if it is a consumer's.
//!
//! Locks: the cache's, then a session's, never the other way round.

mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kavka_protocol::ErrorCode;

pub use session::{next_epoch, Answer, FetchParams, FetchSession, PartitionKey, Quiet, TopicKey};

/// A session unused this long can be displaced by any new one; a younger one only by a more
/// valuable one (Kafka's fixed eviction time).
pub const EVICTION_MS: i64 = 120_000;

/// `session_epoch` of a full fetch that wants no session.
pub const FINAL_EPOCH: i32 = -1;
/// `session_epoch` of a full fetch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;

/// A session shared between the cache and the requests using it.
pub type SharedSession = Arc<Mutex<FetchSession>>;

/// How one Fetch request is served.
#[derive(Debug)]
pub enum FetchContext {
    /// A full fetch answered with every partition, session id 0.
    Sessionless,
    /// A full fetch whose answer opens a session if the cache has room.
    Full {
        /// Asked by a follower.
        privileged: bool,
        /// Fetch v13+ (topics by id).
        uses_topic_ids: bool,
    },
    /// An incremental fetch on `session`, whose epoch is now `epoch`.
    Incremental {
        /// The session.
        session: SharedSession,
        /// The epoch the session moved to for this request: the answer is only given while
        /// it still holds (a duplicate request may have moved it on).
        epoch: i32,
        /// Per partition (in the order of the fetches), whether the last answer found it
        /// quiet at its position.
        quiet: Vec<Option<Quiet>>,
    },
    /// Answered at once with this error and session id, and no partitions.
    Error {
        /// The top-level error.
        code: ErrorCode,
        /// The session id to answer with.
        session_id: i32,
    },
}

/// What a request says of its session.
#[derive(Debug, Clone, Copy)]
pub struct SessionRequest {
    /// `session_id`.
    pub session_id: i32,
    /// `session_epoch`.
    pub epoch: i32,
    /// Sent by a follower (replica id set).
    pub privileged: bool,
    /// Fetch v13+.
    pub uses_topic_ids: bool,
}

/// The sessions of this broker.
#[derive(Debug)]
pub struct FetchSessionCache {
    /// `max.incremental.fetch.session.cache.slots`.
    slots_max: usize,
    /// Sessions by id.
    sessions: Mutex<HashMap<i32, SharedSession>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A session or the map holds nothing a panic elsewhere could leave half-changed that a
    // later request could not live with: at worst one fetcher's session is answered wrongly
    // and it starts over.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FetchSessionCache {
    /// A cache of at most `slots_max` sessions (0: no sessions, every fetch is sessionless).
    pub fn new(slots_max: usize) -> FetchSessionCache {
        FetchSessionCache {
            slots_max,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How a request is served, and for an incremental one the session's partitions (with
    /// what is asked of each) after the request's changes.
    pub fn context(
        &self,
        request: SessionRequest,
        changed: &[(PartitionKey, FetchParams)],
        forgotten: &[PartitionKey],
        now_ms: i64,
    ) -> (FetchContext, Option<Vec<(PartitionKey, FetchParams)>>) {
        let mut sessions = lock(&self.sessions);
        if request.epoch == FINAL_EPOCH || request.epoch == INITIAL_EPOCH {
            if request.session_id != 0 {
                sessions.remove(&request.session_id);
            }
            if request.epoch == FINAL_EPOCH {
                return (FetchContext::Sessionless, None);
            }
            let full = FetchContext::Full {
                privileged: request.privileged,
                uses_topic_ids: request.uses_topic_ids,
            };
            return (full, None);
        }
        let error = |code| FetchContext::Error {
            code,
            session_id: request.session_id,
        };
        let Some(shared) = sessions.get(&request.session_id).cloned() else {
            let not_found = FetchContext::Error {
                code: ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
                session_id: 0,
            };
            return (not_found, None);
        };
        let mut session = lock(&shared);
        if session.epoch != request.epoch {
            return (error(ErrorCode::INVALID_FETCH_SESSION_EPOCH), None);
        }
        if session.uses_topic_ids != request.uses_topic_ids {
            return (error(ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR), None);
        }
        session.update(changed, forgotten);
        if session.is_empty() {
            drop(session);
            sessions.remove(&request.session_id);
            return (FetchContext::Sessionless, Some(Vec::new()));
        }
        session.last_used_ms = now_ms;
        session.epoch = next_epoch(session.epoch);
        let (fetches, quiet) = session.fetches_with_quiet();
        let epoch = session.epoch;
        drop(session);
        let context = FetchContext::Incremental {
            session: shared,
            epoch,
            quiet,
        };
        (context, Some(fetches))
    }

    /// Settles the answer to an incremental fetch on `session` (moved to `epoch` by it): its
    /// id and which partitions the answer carries; INVALID_FETCH_SESSION_EPOCH (with the
    /// session id) when another request moved the session on meanwhile.
    pub fn respond(
        &self,
        session: &SharedSession,
        epoch: i32,
        answers: &[(PartitionKey, Answer)],
    ) -> Result<(i32, Vec<bool>), (ErrorCode, i32)> {
        let mut s = lock(session);
        if s.epoch != epoch {
            tracing::info!(
                session = s.id,
                expected = epoch,
                found = s.epoch,
                "fetch session moved on: a duplicate request?"
            );
            return Err((ErrorCode::INVALID_FETCH_SESSION_EPOCH, s.id));
        }
        Ok((s.id, s.respond(answers)))
    }

    /// Opens a session for an answered full fetch, if there is room; its id, or 0.
    pub fn open(
        &self,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: &[(PartitionKey, FetchParams, Answer)],
        now_ms: i64,
    ) -> i32 {
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= self.slots_max
            && !evict_for(&mut sessions, privileged, partitions.len(), now_ms)
        {
            return 0;
        }
        let id = loop {
            let id = (uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32;
            if id != 0 && !sessions.contains_key(&id) {
                break id;
            }
        };
        let session = FetchSession::new(id, privileged, uses_topic_ids, now_ms, partitions);
        sessions.insert(id, Arc::new(Mutex::new(session)));
        id
    }
}

/// Makes room for a new session (`privileged`, of `size` partitions) by closing a stale or a
/// less valuable one; whether it did.
fn evict_for(
    sessions: &mut HashMap<i32, SharedSession>,
    privileged: bool,
    size: usize,
    now_ms: i64,
) -> bool {
    // (last used, id) of the least recently used; (privileged, size, id) of the cheapest one
    // the newcomer may displace.
    let mut oldest: Option<(i64, i32)> = None;
    let mut cheapest: Option<(bool, usize, i32)> = None;
    for (id, shared) in sessions.iter() {
        let s = lock(shared);
        if oldest.is_none_or(|o| (s.last_used_ms, *id) < o) {
            oldest = Some((s.last_used_ms, *id));
        }
        let old_enough = now_ms - s.creation_ms > EVICTION_MS;
        let displaceable = old_enough || (privileged && !s.privileged);
        let key = (s.privileged, s.len(), *id);
        if displaceable && cheapest.is_none_or(|c| key < c) {
            cheapest = Some(key);
        }
    }
    if let Some((last_used_ms, id)) = oldest {
        if now_ms - last_used_ms > EVICTION_MS {
            sessions.remove(&id);
            return true;
        }
    }
    match cheapest {
        // The newcomer's key has id 0, below every session id: it must win on privilege or
        // size.
        Some((p, n, id)) if (privileged, size) > (p, n) => {
            sessions.remove(&id);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
