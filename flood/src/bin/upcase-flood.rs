//! `upcase-flood`. Its flags and commands are [`upcase_flood::cli`], in the
//! library so the man page and shell completions (`gen-docs/`, for the .deb) are generated
//! from the same clap definitions.

fn main() -> std::process::ExitCode {
    upcase_flood::cli::main()
}
