//! Test support for the flood's tests: the real `upcase-server`, built
//! fresh and started through the flood crate's own launcher
//! ([`ServerProcess`]), and the `upcase-flood` binary under test.
//!
//! The server belongs to another package of the workspace, so Cargo gives
//! these tests no `CARGO_BIN_EXE_upcase-server`. Instead the first test to
//! need it asks Cargo to build it (`cargo build -p upcase --bin
//! upcase-server`, same profile as the tests; a no-op when it is fresh)
//! and takes the path Cargo reports: never a stale binary, wherever the
//! target directory is.

#![allow(dead_code)] // each test file uses a different part of this

pub mod fake;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
pub use upcase_flood::server_process::ServerProcess;

/// Generous bound on any single wait: tests fail instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The `upcase-server` binary, built by Cargo on first use.
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_server).clone()
}

fn build_server() -> PathBuf {
    let mut command = Command::new(env!("CARGO"));
    command.args([
        "build",
        "-p",
        "upcase",
        "--bin",
        "upcase-server",
        "--message-format=json-render-diagnostics",
    ]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build for upcase-server");
    assert!(
        output.status.success(),
        "cargo could not build upcase-server"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| {
            let path = message["executable"].as_str()?;
            path.ends_with("/upcase-server")
                .then(|| PathBuf::from(path))
        })
        .expect("cargo reported no upcase-server executable")
}

/// Starts the server on free loopback ports with extra `args`, keeping
/// its debug log (for [`ServerProcess::log`]).
pub fn start_server(args: &[&str]) -> ServerProcess {
    ServerProcess::start_logging(&server_binary(), args, Some("debug"))
        .expect("start upcase-server")
}

/// The flood's `--json` report on stdout.
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs `upcase-flood` with `args` to its end.
pub fn flood(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_upcase-flood"))
        .args(args)
        .output()
        .expect("run upcase-flood")
}
