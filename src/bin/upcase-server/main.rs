//! `upcase-server`: the program's steps, in order. Each step is in the
//! library ([`upcase::cli::server`], beside the clap definitions that
//! `gen-docs/` makes the man page and shell completions from); an error
//! from any of them ends the program with one line on stderr and exit 2
//! for a usage error, 1 for the rest (clap exits 2 itself for a bad flag).

use std::process::ExitCode;
use std::time::Duration;
use upcase::cli::server::{self, ServerError};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upcase-server: {error}");
            let usage = error
                .downcast_ref::<ServerError>()
                .is_some_and(ServerError::is_usage);
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run() -> anyhow::Result<()> {
    upcase::memory::fit_allocator_to_address_space_limit();
    // Before any thread starts, so that every thread inherits the mask and
    // only the reload thread's sigwait takes SIGUSR1.
    server::block_reload_signal();
    let args = server::parse_args();
    let admin = server::admin_access(&args)?;
    let flusher = server::init_logging(&args);
    let served = server::serve(&args, admin);
    if let Some(flusher) = flusher {
        flusher.flush(Duration::from_secs(1));
    }
    Ok(served?)
}
