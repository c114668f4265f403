//! `upcase-flood`. Its flags, and how they become the options of the
//! flood and of each report, are [`upcase_flood::cli`], in the library so
//! the man page and shell completions (`gen-docs/`, for the .deb) are
//! generated from the same clap definitions. This file runs what they ask
//! for and prints the result; an error is one line on stderr, exit status
//! 2 for a flag the command cannot run with and 1 for anything else.

use clap::Parser;
use std::io;
use std::process::ExitCode;
use upcase_flood::cli::{BenchArgs, Cli, Command, CompareArgs, FloodArgs, SoakArgs, UsageError};
use upcase_flood::reports::{bench, compare, lab, soak};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (program, outcome) = match cli.command {
        Some(Command::Compare(args)) => ("upcase-flood compare", run_compare(&args)),
        Some(Command::Soak(args)) => ("upcase-flood soak", run_soak(&args)),
        Some(Command::Lab(args)) => ("upcase-flood lab", run_lab(&args)),
        Some(Command::Bench(args)) => ("upcase-flood bench", run_bench(&args)),
        None => ("upcase-flood", run_flood(&cli.flood)),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("{program}: {error:#}");
        if error.is::<UsageError>() {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    })
}

/// A verdict as the exit status: 0 passed, 1 failed.
fn verdict(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_flood(args: &FloodArgs) -> anyhow::Result<ExitCode> {
    let report = upcase_flood::flood::run(args.options()?)?;
    if args.json {
        println!("{}", report.to_json());
    } else if let Err(error) = report.print_human(io::stdout().lock()) {
        eprintln!("upcase-flood: cannot print the report: {error}");
    }
    Ok(verdict(report.passed()))
}

fn run_soak(args: &SoakArgs) -> anyhow::Result<ExitCode> {
    Ok(verdict(soak::run(&args.options()?)?))
}

fn run_lab(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    lab::check_requirements().map_err(UsageError::Unmet)?;
    let options = args.lab_options()?;
    eprintln!(
        "upcase-flood lab: about {} s of floods under packet loss...",
        lab::expected_duration(options.quick).as_secs()
    );
    let report = lab::run(&options)?;
    println!("wrote {}", report.display());
    Ok(ExitCode::SUCCESS)
}

fn run_compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let report = compare::run(&args.compare_options()?)?;
    println!("wrote {}", report.display());
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    print!("{}", bench::run(&args.options()?)?);
    Ok(ExitCode::SUCCESS)
}
