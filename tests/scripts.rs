//! Every script in `scripts/` answers `--help` with its usage and exit 0,
//! and does nothing else: asked for help as root, the installer must not
//! install and the benchmarks must not build.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

#[test]
fn every_script_answers_help_without_running_anything() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Stand-ins for the tools a script would run; each leaves a mark.
    let fakes = std::env::temp_dir().join(format!("upcase-script-fakes-{}", std::process::id()));
    fs::create_dir_all(&fakes).unwrap();
    let marks = fakes.join("ran");
    for tool in [
        "cargo", "apt-get", "rustup", "ip", "haproxy", "chromium", "python3",
    ] {
        let path = fakes.join(tool);
        fs::write(
            &path,
            format!("#!/bin/sh\necho {tool} >> '{}'\n", marks.display()),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut scripts: Vec<_> = fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sh") && !path.ends_with("lib.sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 5, "found {scripts:?}");
    let path = format!("{}:/usr/bin:/bin", fakes.display());
    for script in &scripts {
        for flag in ["--help", "-h"] {
            let output = Command::new("bash")
                .arg(script)
                .arg(flag)
                .env("PATH", &path)
                .output()
                .unwrap();
            let usage = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{} {flag}: {:?}",
                script.display(),
                output
            );
            assert!(
                usage.lines().count() >= 1 && !usage.starts_with('!'),
                "{} {flag}: {usage}",
                script.display()
            );
        }
    }
    let ran = fs::read_to_string(&marks).unwrap_or_default();
    fs::remove_dir_all(&fakes).unwrap();
    assert_eq!(ran, "", "asked for help, a script ran tools");
}
