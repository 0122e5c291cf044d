//! Progress lines while a workload runs: records so far and the recent rate, on stderr.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the reporter thread looks at the stop flag.
const TICK: Duration = Duration::from_millis(50);

/// Runs `work` while a thread prints `label`'s progress every `every`, read from `records`.
pub fn with_progress<T>(
    label: &str,
    every: Duration,
    records: &AtomicU64,
    work: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let start = Instant::now();
            let (mut last_at, mut last_records) = (start, 0u64);
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let now = Instant::now();
                if now - last_at < every {
                    continue;
                }
                let so_far = records.load(Ordering::Relaxed);
                let rate = (so_far - last_records) as f64 / (now - last_at).as_secs_f64();
                eprintln!(
                    "  {label}: {so_far} records after {:.0} s, {rate:.0} records/s",
                    (now - start).as_secs_f64()
                );
                (last_at, last_records) = (now, so_far);
            }
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        out
    })
}
