//! SIGINT/SIGTERM/SIGHUP, counted by a plain signal handler.
//!
//! The handler only adds one to an atomic counter, so a signal is seen
//! however busy the control loop is (a replay whose sink is behind can spend
//! long stretches writing; an async signal task would wait for it). The
//! handlers are installed once per process, when the first pipeline is
//! built; a [`Signals`] snapshot taken then tells whether a stop or a reload
//! was asked for since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static STOPS: AtomicU64 = AtomicU64::new(0);
static RELOADS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// Installs the handlers (once per process): SIGINT and SIGTERM ask for a
/// stop, SIGHUP for a reload of the configuration.
pub fn install() {
    INSTALL.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the action only touches an atomic, which is
            // async-signal-safe.
            let r = unsafe {
                signal_hook_registry::register(sig, || {
                    STOPS.fetch_add(1, Ordering::SeqCst);
                })
            };
            if let Err(e) = r {
                tracing::warn!("cannot handle signal {sig}: {e}");
            }
        }
        // SAFETY: as above.
        let r = unsafe {
            signal_hook_registry::register(libc::SIGHUP, || {
                RELOADS.fetch_add(1, Ordering::SeqCst);
            })
        };
        if let Err(e) = r {
            tracing::warn!("cannot handle SIGHUP: {e}");
        }
    });
}

/// The signals received since this snapshot was taken.
#[derive(Clone, Debug)]
pub struct Signals {
    stops: u64,
    reloads: u64,
}

impl Signals {
    /// Installs the handlers if needed and starts counting from now.
    pub fn from_now() -> Signals {
        install();
        Signals {
            stops: STOPS.load(Ordering::SeqCst),
            reloads: RELOADS.load(Ordering::SeqCst),
        }
    }

    /// Whether SIGINT or SIGTERM came since the snapshot.
    pub fn stop_requested(&self) -> bool {
        STOPS.load(Ordering::SeqCst) != self.stops
    }

    /// Whether SIGHUP came since the last call (or the snapshot).
    pub fn take_reload(&mut self) -> bool {
        let now = RELOADS.load(Ordering::SeqCst);
        let asked = now != self.reloads;
        self.reloads = now;
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_after_the_snapshot_is_seen_and_one_before_is_not() {
        let before = Signals::from_now();
        // SIGHUP only: a stop would end other tests' pipelines in this
        // process.
        unsafe { libc::raise(libc::SIGHUP) };
        let mut after = Signals::from_now();
        let mut b = before.clone();
        assert!(b.take_reload());
        assert!(!b.take_reload(), "a reload is taken once");
        assert!(!after.take_reload());
        assert!(!before.stop_requested());
    }
}
