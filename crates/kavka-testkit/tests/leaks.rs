//! Fifty brokers started and stopped in a row leave no thread, file descriptor or directory
//! behind. Alone in its test binary, so that no other test's threads or files are counted.

use std::time::{Duration, Instant};

use kavka_testkit::Broker;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Threads of this process (the test harness's own come and go: compare after they settle).
fn threads() -> usize {
    count("/proc/self/task")
}

fn fds() -> usize {
    count("/proc/self/fd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn fifty_brokers_in_a_row_leave_no_thread_descriptor_or_directory_behind() {
    // One first, so that lazily made process-wide things exist before counting.
    Broker::start().await.unwrap().stop().await.unwrap();
    let (threads_before, fds_before) = (threads(), fds());
    let mut dirs = Vec::new();
    for i in 0..50 {
        let broker = Broker::builder()
            .topic(format!("t{i}"), 2)
            .start()
            .await
            .unwrap();
        assert!(broker
            .data_dir()
            .join("data")
            .join(format!("t{i}-1"))
            .is_dir());
        dirs.push(broker.data_dir().to_path_buf());
        broker.stop().await.unwrap();
    }
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "a data directory was left behind"
    );
    // Threads end asynchronously after a join; give them a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > threads_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        threads() <= threads_before,
        "threads {} -> {}",
        threads_before,
        threads()
    );
    assert!(
        fds() <= fds_before,
        "file descriptors {} -> {}",
        fds_before,
        fds()
    );
}
