//! The command lines of `upcase-server` and `upcase-client`: their clap
//! definitions, start-up and signals. In the library, not in `src/bin/`,
//! so one generator (`gen-docs/`, for the .deb) makes the man pages and shell completions
//! from the very definitions the programs parse with, and `--version`
//! says the commit the same way for every program of the workspace.

pub mod client;
pub mod server;

/// What `--version` prints after the program's name: the package version
/// and, when built from git, the commit `build.rs` recorded (the one
/// `upcase_build_info{commit}` reports), e.g. `0.1.0 (a6104ff1c2d3)`.
/// Built from a tarball, the version alone.
pub fn describe_version(package_version: &str) -> String {
    match COMMIT {
        Some(commit) => format!("{package_version} ({commit})"),
        None => package_version.to_string(),
    }
}

/// The commit this build came from (`build.rs`), if it came from git.
pub const COMMIT: Option<&str> = option_env!("UPCASE_COMMIT");

/// [`describe_version`] for the calling package, as the `&'static str`
/// clap's `#[command(version = ...)]` takes (made once per process).
#[macro_export]
macro_rules! version {
    () => {{
        static VERSION: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
        VERSION
            .get_or_init(|| $crate::cli::describe_version(env!("CARGO_PKG_VERSION")))
            .as_str()
    }};
}
