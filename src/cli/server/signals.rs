//! The signals `upcase-server` answers: SIGINT, SIGTERM and SIGHUP begin a
//! graceful shutdown (a second one exits at once), SIGUSR1 re-reads the
//! `--tls` certificate. Each is taken on a thread of its own, never in an
//! asynchronous handler, so what it does need not be async-signal-safe.

use super::ServerError;
use crate::certificates::Certificates;
use crate::shutdown::ShutdownSignal;
use std::sync::Arc;

/// Tells systemd (when it started us with NOTIFY_SOCKET) how we are doing.
pub(super) fn notify_systemd(state: sd_notify::NotifyState) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(error) = sd_notify::notify(false, &[state]) {
            log::warn!("cannot notify the service manager: {error}");
        }
    }
}

/// SIGINT, SIGTERM (and SIGHUP unless it was ignored at start) begin a
/// graceful shutdown; a second one exits at once.
///
/// Through `ctrlc`, the design's package: its `termination` feature
/// catches all three on a thread of its own, which is where the trigger is
/// pulled. It always takes SIGHUP too, so a SIGHUP that was ignored at
/// start (`nohup`) is set back to ignored right after.
pub(super) fn install_signal_handlers(shutdown: &ShutdownSignal) -> Result<(), ServerError> {
    let hangup_ignored = is_ignored(libc::SIGHUP);
    let shutdown = shutdown.clone();
    ctrlc::set_handler(move || {
        if shutdown.is_triggered() {
            eprintln!("upcase-server: second signal, exiting without waiting");
            std::process::exit(130);
        }
        log::info!("signal received (SIGINT, SIGTERM or SIGHUP): shutting down");
        notify_systemd(sd_notify::NotifyState::Stopping);
        shutdown.trigger();
    })
    .map_err(ServerError::Signals)?;
    if hangup_ignored {
        // SAFETY: sets SIGHUP's disposition back to SIG_IGN; it installs
        // no handler and touches no memory of ours.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    Ok(())
}

/// The signal set holding SIGUSR1 alone.
fn reload_signal() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        set
    }
}

/// Blocks SIGUSR1 in this thread (and so in every thread started after):
/// it is taken by the reload thread's `sigwait`, never delivered as an
/// asynchronous handler. ctrlc owns SIGINT, SIGTERM and SIGHUP; this
/// touches no other signal, and needs no handler that must be
/// async-signal-safe (signal-hook is not in the tree for one signal).
pub fn block_reload_signal() {
    let set = reload_signal();
    // SAFETY: pthread_sigmask reads the set we own; no old mask is asked for.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A thread that waits for SIGUSR1 and re-reads the `--tls` certificate
/// and key: new connections get the new pair; a bad file keeps the old
/// one, logged in one line. Without `--tls`, SIGUSR1 is logged and
/// ignored (its default would end the process).
pub(super) fn reload_on_signal(certificates: Option<Arc<Certificates>>) -> Result<(), ServerError> {
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || loop {
            let set = reload_signal();
            let mut signal = 0;
            // SAFETY: sigwait reads the set and writes one int we own.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            match &certificates {
                None => log::info!("SIGUSR1: no --tls certificate to re-read"),
                Some(certificates) => match certificates.reload() {
                    Ok(not_after) => log::info!(
                        "SIGUSR1: re-read {}; new connections get the certificate valid until {}",
                        certificates.files(),
                        crate::certificates::utc_date(not_after)
                    ),
                    Err(error) => log::warn!(
                        "SIGUSR1: keeping the certificate in use (valid until {}): {error}",
                        crate::certificates::utc_date(certificates.not_after())
                    ),
                },
            }
        })
        .map(drop)
        .map_err(ServerError::ReloadThread)
}

/// Whether `signal`'s disposition is "ignore" (inherited from `nohup`).
fn is_ignored(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into the zeroed struct we own.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}
