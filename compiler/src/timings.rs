//! Wall time per compiler stage, for `--timings`.
//!
//! Off by default, where [`time`] costs one thread-local read. Once
//! [`enable`]d on a thread, each stage's time is added up under its name.
//! Stages nest (the optimiser runs inside reverse mode, for one); a stage's
//! time excludes the stages timed inside it, so the figures add up to the
//! whole.

use std::cell::RefCell;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorder {
    /// Self time and number of runs per stage, in first-seen order.
    stages: Vec<(&'static str, Duration, usize)>,
    /// The running stages, innermost last, with the time of the stages
    /// timed inside each.
    open: Vec<Duration>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Starts recording on this thread (forgetting earlier figures).
pub fn enable() {
    RECORDER.with(|r| *r.borrow_mut() = Some(Recorder::default()));
}

/// Runs `f` as the stage `stage`.
pub fn time<T>(stage: &'static str, f: impl FnOnce() -> T) -> T {
    let _timer = Timer::start(stage);
    f()
}

/// A stage running until the timer is dropped: [`time`] for a stage that
/// is a whole function body.
pub struct Timer {
    /// The stage and its start, when recording.
    running: Option<(&'static str, Instant)>,
}

impl Timer {
    pub fn start(stage: &'static str) -> Timer {
        let on = RECORDER.with(|r| match r.borrow_mut().as_mut() {
            Some(rec) => {
                rec.open.push(Duration::ZERO);
                true
            }
            None => false,
        });
        Timer {
            running: on.then(|| (stage, Instant::now())),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let Some((stage, start)) = self.running else {
            return;
        };
        let total = start.elapsed();
        RECORDER.with(|r| {
            if let Some(rec) = r.borrow_mut().as_mut() {
                let inner = rec.open.pop().unwrap_or_default();
                if let Some(parent) = rec.open.last_mut() {
                    *parent += total;
                }
                let own = total.saturating_sub(inner);
                match rec.stages.iter_mut().find(|(name, ..)| *name == stage) {
                    Some((_, t, n)) => {
                        *t += own;
                        *n += 1;
                    }
                    None => rec.stages.push((stage, own, 1)),
                }
            }
        });
    }
}

/// The recorded stages as a table (empty when recording is off).
pub fn report() -> String {
    RECORDER.with(|r| {
        let r = r.borrow();
        let Some(rec) = r.as_ref() else {
            return String::new();
        };
        let total: Duration = rec.stages.iter().map(|(_, t, _)| *t).sum();
        let mut out = format!("{:<28} {:>10} {:>6}\n", "stage", "ms", "runs");
        for (name, t, n) in &rec.stages {
            out += &format!("{name:<28} {:>10.3} {n:>6}\n", t.as_secs_f64() * 1e3);
        }
        out += &format!("{:<28} {:>10.3}\n", "total", total.as_secs_f64() * 1e3);
        out
    })
}
