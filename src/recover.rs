//! Carrying on after a panic: the server never stops serving because one
//! handler had a bug.
//!
//! Two rules, written once for every thread: a panic in a handler is caught
//! and logged, and its thread lives on ([`run_catching_panics`]); a mutex
//! whose holder panicked is still used ([`lock`]), because what this crate
//! guards with one (lists, counters, sockets) stays valid when a holder
//! stops half-way.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning (see the module's rule).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f`; if it panics, logs the panic (naming `who`) instead of
/// unwinding further, so the calling thread lives on. Returns `None` then.
pub fn run_catching_panics<T>(who: &str, f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            log::error!(
                "{who}: a handler panicked ({}); carrying on",
                panic_message(payload.as_ref())
            );
            None
        }
    }
}

/// The text of a panic payload, for a log line.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "non-text panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_and_its_text_kept() {
        assert_eq!(run_catching_panics("test", || 7), Some(7));
        assert_eq!(
            run_catching_panics("test", || -> u8 { panic!("bug") }),
            None
        );
        let payload = panic::catch_unwind(|| panic!("bug {}", 1)).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "bug 1");
    }

    #[test]
    fn a_poisoned_mutex_is_still_locked() {
        let mutex = Mutex::new(1);
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard = lock(&mutex);
            panic!("holder panicked");
        }));
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 1);
    }
}
