//! The top level's promises about building: a plain `cargo build --release`
//! there builds every binary the README and the SPEC name, so whoever runs
//! it finds `target/release/upcase-flood` beside the server and client.

use std::process::Command;

#[test]
fn a_plain_build_at_the_top_level_builds_server_client_and_flood() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let default_members: Vec<&str> = metadata["workspace_default_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let mut built: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| default_members.contains(&package["id"].as_str().unwrap()))
        .flat_map(|package| package["targets"].as_array().unwrap())
        .filter(|target| target["kind"] == serde_json::json!(["bin"]))
        .map(|target| target["name"].as_str().unwrap())
        .collect();
    built.sort_unstable();
    for binary in ["upcase-client", "upcase-flood", "upcase-server"] {
        assert!(built.contains(&binary), "{binary} not in {built:?}");
    }
}
