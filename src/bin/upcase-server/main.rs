//! `upcase-server`. Its flags, start-up and signals are
//! [`upcase::cli::server`], in the library so the man page and shell
//! completions (`gen-docs/`, for the .deb) are generated from the same clap definitions.

fn main() -> std::process::ExitCode {
    upcase::cli::server::main()
}
