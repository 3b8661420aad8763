//! libp2p's timer thread, started in the batch scheduling class.
//!
//! libp2p's timers (`futures-timer`) live on one helper thread per process, started by the first
//! timer made. Gossipsub makes a timer for every message copy it queues to a peer (its queue
//! timeout) and drops it once the copy is sent, and both wake that thread if it sleeps. At the
//! normal class the woken thread, which sleeps most of the time, preempts the thread doing the
//! work at once, does a few microseconds of bookkeeping and sleeps again, and the next timer
//! wakes it anew: in a 10-node mesh, about 35 wake-ups and 137 context switches per message. In
//! the batch class it waits for the next scheduling point instead, and the timers made meanwhile
//! find it already awake: 57 switches per message and 13 % less CPU (bare gossipsub, in the same
//! process, 30 → 19 switches; docs/performance.md, "Session 24"). It still gets its full share
//! of the CPU, so the timeouts and heartbeats it fires are never late by more than a tick.

use std::sync::Once;

/// Starts libp2p's timer thread in the batch class, unless something in this process started it
/// already: called before the first swarm is built.
pub(super) fn start_in_batch_class() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        // A thread passes its scheduling class to the threads it starts: the first timer, made
        // on a batch thread, starts the timer thread in the batch class.
        let starter = std::thread::Builder::new()
            .name("chatly-timer-start".into())
            .spawn(|| {
                crate::priority::batch_this_thread("timer starter");
                drop(futures_timer::Delay::new(std::time::Duration::from_secs(1)));
            });
        if !matches!(starter.map(std::thread::JoinHandle::join), Ok(Ok(()))) {
            tracing::debug!("libp2p's timer thread starts in the normal class");
        }
    });
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use crate::priority::{SCHED_BATCH, scheduling_of, threads_named};

    #[test]
    fn the_timer_thread_runs_in_the_batch_class() {
        // Under `cargo test` the tests share a process: another may have made the first timer.
        if !threads_named("futures-timer").is_empty() {
            eprintln!("a timer thread was running before this test: its class is not this test's");
            return;
        }
        super::start_in_batch_class();
        // Timers made anywhere afterwards use that one thread: no other starts.
        drop(futures_timer::Delay::new(std::time::Duration::from_secs(1)));
        // A new thread names itself once it first runs: on a busy machine, a moment later.
        let started = std::time::Instant::now();
        let mut timers = threads_named("futures-timer");
        while timers.is_empty() && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(5));
            timers = threads_named("futures-timer");
        }
        assert_eq!(timers.len(), 1, "one timer thread: {timers:?}");
        let (nice, policy) = scheduling_of(timers[0]).expect("the timer thread's scheduling");
        assert_eq!((nice, policy), (0, SCHED_BATCH));
        // The thread that started it is gone, and the others keep the normal class. Joined is
        // not yet gone: the kernel wakes the joiner as the thread exits, before it leaves
        // /proc (seen once in a run of the whole suite).
        while !threads_named("chatly-timer-st").is_empty()
            && started.elapsed() < std::time::Duration::from_secs(10)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(threads_named("chatly-timer-st").is_empty());
        let this = rustix::thread::gettid().as_raw_nonzero().get();
        assert_eq!(scheduling_of(this).map(|(_, policy)| policy), Some(0));
    }
}
