//! Scheduling for threads that need not run the moment they are woken: the store's checkpoint
//! thread (the lowest priority) and libp2p's timer thread (no preemption on wake-up).

/// Puts the calling thread at the lowest CPU priority (nice 19 on Linux): it runs when nothing
/// else wants the CPU. `what` names it in the log if the system says no; elsewhere than Linux
/// this does nothing.
#[cfg(target_os = "linux")]
pub fn lower_this_thread(what: &str) {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), LOWEST) {
        tracing::debug!(error = %e, "the {what} keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread(_what: &str) {}

/// Puts the calling thread in Linux's batch class (`SCHED_BATCH`, nice 0), which threads it
/// starts inherit. Woken, such a thread does not preempt the one running on its CPU: it waits for
/// the next scheduling point (a tick, or a thread going to sleep), then gets the same share of
/// the CPU as any other. Wake-ups that come while it waits cost nothing. `what` names it in the
/// log if the system says no; elsewhere than Linux this does nothing.
#[cfg(target_os = "linux")]
pub fn batch_this_thread(what: &str) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
    };
    if let Err(e) = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    ) {
        tracing::debug!(error = ?e, "the {what} keeps its scheduling class");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn batch_this_thread(_what: &str) {}

/// The lowest priority, as a nice value.
#[cfg(target_os = "linux")]
const LOWEST: i32 = 19;

/// Linux's number for the batch class, as `/proc` shows a thread's policy.
#[cfg(all(test, target_os = "linux"))]
pub(crate) const SCHED_BATCH: i32 = 3;

/// The nice value and scheduling class of thread `tid` of this process, read from `/proc` (for
/// tests).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn scheduling_of(tid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces (hence the last ')'): the nice
    // value is field 19 of the line and the policy field 41, the 17th and 39th after the name.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.get(16)?.parse().ok()?, fields.get(38)?.parse().ok()?))
}

/// The ids of this process's threads named `name` (for tests).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn threads_named(name: &str) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| task.file_name().to_str()?.parse().ok())
        .collect()
}
