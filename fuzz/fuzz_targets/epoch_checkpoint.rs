//! Any bytes as a `leader-epoch-checkpoint` file: decoding never panics nor allocates beyond
//! the input, and what decodes encodes back to the same cache.
#![no_main]

use kavka_storage::epoch_cache::LeaderEpochCache;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cache) = LeaderEpochCache::decode(text) {
        assert_eq!(
            LeaderEpochCache::decode(&cache.encode()).expect("re-encoded checkpoint decodes"),
            cache
        );
    }
});
