//! `upcase-gen-docs OUT_DIR`: writes the man pages (`man1/*.1`) and the
//! bash, zsh and fish completions of the three programs from the clap
//! definitions they parse with (`upcase::cli`, `upcase_flood::cli`), so
//! the `.deb` (`scripts/package-deb.sh`) documents exactly the flags the
//! binaries take. Its own package: clap_mangen and clap_complete stay out
//! of the server's dependency tree.

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: upcase-gen-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&PathBuf::from(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upcase-gen-docs: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Each program's man page and its completion for every shell packaged.
fn generate(out: &Path) -> anyhow::Result<()> {
    let programs = [
        upcase::cli::server::Args::command(),
        upcase::cli::client::Args::command(),
        upcase_flood::cli::Cli::command(),
    ];
    for command in programs {
        let name = command.get_name().to_string();
        write_man_page(&command, &out.join("man1"))?;
        for (shell, dir) in [
            (Shell::Bash, "bash"),
            (Shell::Zsh, "zsh"),
            (Shell::Fish, "fish"),
        ] {
            let dir = out.join("completions").join(dir);
            create_dir(&dir)?;
            let mut command = command.clone();
            clap_complete::generate_to(shell, &mut command, &name, &dir)
                .with_context(|| format!("cannot write the {shell} completion of {name}"))?;
        }
    }
    Ok(())
}

/// `NAME.1` (and one page per subcommand, `upcase-flood-compare.1`...).
/// clap_mangen leaves out each flag's environment variable, which `--help`
/// shows: it is added to the flag's text here.
fn write_man_page(command: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    create_dir(dir)?;
    let with_env = command.clone().mut_args(|arg| match arg.get_env() {
        Some(env) => {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let env = env.to_string_lossy().into_owned();
            arg.help(format!("{help} [env: {env}]"))
        }
        None => arg,
    });
    clap_mangen::generate_to(with_env, dir)
        .with_context(|| format!("cannot write the man page of {}", command.get_name()))
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
