//! Records the git commit the server is built from, for
//! `upcase_build_info{commit}`. Outside a git checkout (a source tarball,
//! a vendored copy) nothing is set and the metric says `unknown`: the
//! build never fails for want of git.

use std::path::Path;
use std::process::Command;

fn main() {
    // Rebuild when HEAD moves (a commit, a checkout), not on every build.
    for file in [".git/HEAD", ".git/packed-refs"] {
        if Path::new(file).exists() {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            let file = format!(".git/{reference}");
            if Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
    println!("cargo:rerun-if-env-changed=UPCASE_COMMIT");
    let commit = std::env::var("UPCASE_COMMIT").ok().or_else(|| {
        let output = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        let commit = String::from_utf8(output.stdout).ok()?;
        let commit = commit.trim();
        (output.status.success() && !commit.is_empty()).then(|| commit.to_string())
    });
    if let Some(commit) = commit {
        println!("cargo:rustc-env=UPCASE_COMMIT={commit}");
    }
}
