//! Background flushing (by size and age) and merging.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::storage::Storage;

/// How often the flush thread checks the head's size and age: often, so a
/// fast-growing head is flushed soon after it passes the limit.
const FLUSH_TICK: Duration = Duration::from_millis(50);
/// How often the merge thread looks for parts to merge.
const MERGE_TICK: Duration = Duration::from_secs(1);

/// Handle of the background threads; dropping it (or `stop`) stops and joins them.
pub struct BackgroundTasks {
    /// Set to true to stop; the condvar wakes sleeping threads.
    stop: Arc<(Mutex<bool>, Condvar)>,
    threads: Vec<JoinHandle<()>>,
}

impl BackgroundTasks {
    /// Stops the threads and waits for them (a flush or merge in progress completes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (stopped, wake) = &*self.stop;
        if let Ok(mut stopped) = stopped.lock() {
            *stopped = true;
        }
        wake.notify_all();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("BUG: storage background thread panicked");
            }
        }
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `work` every tick until stopped.
fn spawn_loop(
    name: &str,
    tick: Duration,
    stop: Arc<(Mutex<bool>, Condvar)>,
    mut work: impl FnMut() + Send + 'static,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let (stopped, wake) = &*stop;
            loop {
                {
                    let Ok(guard) = stopped.lock() else { return };
                    let Ok((guard, _)) = wake.wait_timeout_while(guard, tick, |stopped| !*stopped)
                    else {
                        return;
                    };
                    if *guard {
                        return;
                    }
                }
                work();
            }
        })
        .expect("BUG: cannot spawn a storage background thread")
}

impl Storage {
    /// Spawns the background flush and merge threads.
    pub fn start_background(self: &Arc<Self>) -> BackgroundTasks {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flusher = self.clone();
        let flush_thread = spawn_loop("strata-flush", FLUSH_TICK, stop.clone(), move || {
            if flusher.flush_due()
                && let Err(err) = flusher.flush()
            {
                tracing::error!(error = %err, "background flush failed");
            }
        });
        let merger = self.clone();
        let merge_thread = spawn_loop("strata-merge", MERGE_TICK, stop.clone(), move || {
            if let Err(err) = merger.merge() {
                tracing::error!(error = %err, "background merge failed");
            }
        });
        BackgroundTasks {
            stop,
            threads: vec![flush_thread, merge_thread],
        }
    }
}
