//! `upcase-client`. Its flags and start-up are [`upcase::cli::client`], in
//! the library so the man page and shell completions (`gen-docs/`, for the .deb) are
//! generated from the same clap definitions.

fn main() -> std::process::ExitCode {
    upcase::cli::client::main()
}
