//! `upcase-client`: the program's steps, in order. Each is in the library
//! ([`upcase::cli::client`], beside the clap definitions that `gen-docs/`
//! makes the man page and shell completions from); an error from any of
//! them ends the program with one line on stderr and exit 2 for a usage
//! error, 1 for the rest (clap exits 2 itself for a bad flag).

use std::process::ExitCode;
use upcase::cli::client::{self, StartError};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upcase-client: {error}");
            let usage = error
                .downcast_ref::<StartError>()
                .is_some_and(StartError::is_usage);
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run() -> anyhow::Result<()> {
    let session = client::start(client::parse_args())?;
    Ok(session.run()?)
}
