//! Start-up and command-line behaviour: the announced addresses, defaults,
//! the listen backlog, and clear errors with the right exit codes.

mod common;

use common::*;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output};

fn run_server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .args(args)
        .output()
        .expect("run upcase-server")
}

#[test]
fn announces_the_real_ports_on_stdout() {
    let server = Server::start(&[]);
    assert_ne!(server.tcp.port(), 0);
    assert_ne!(server.udp.unwrap().port(), 0);
    assert!(server.tcp.ip().is_loopback());
}

#[test]
fn no_udp_serves_tcp_only() {
    let server = Server::start(&["--no-udp"]);
    assert!(server.udp.is_none());
    let mut client = server.connect();
    round_trip(&mut client, b"tcp only\n", b"TCP ONLY\n");
}

#[test]
fn defaults_are_loopback_7878_and_one_worker_per_cpu() {
    let help = run_server(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(text.matches("127.0.0.1:7878").count(), 2, "{text}");

    let server = Server::start(&[]);
    let expected = format!("model pool ({} workers)", num_cpus::get());
    assert!(server.wait_for_log(&expected), "{}", server.stderr());
}

#[test]
fn busy_polling_can_be_turned_off_and_both_transports_still_answer() {
    for micros in ["0", "10000"] {
        let server = Server::start(&["--busy-poll", micros]);
        let mut client = server.connect();
        for _ in 0..3 {
            round_trip(&mut client, b"look again\n", b"LOOK AGAIN\n");
        }
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        socket.send_to(b"datagram", server.udp.unwrap()).unwrap();
        let mut reply = [0u8; 16];
        let (length, _) = socket.recv_from(&mut reply).unwrap();
        assert_eq!(&reply[..length], b"DATAGRAM", "--busy-poll {micros}");
    }
}

#[test]
fn a_bad_flag_is_a_usage_error_with_exit_status_2() {
    for args in [
        &["--bogus"][..],
        &["--workers", "0"],
        &["--workers", "many"],
        &["--model", "threads"],
        &["--max-line", "-1"],
        &["--udp", "127.0.0.1:0", "--no-udp"],
        &["--busy-poll", "-1"],
        &["--busy-poll", "10001"],
    ] {
        let output = run_server(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_taken_tcp_port_is_one_clear_line_and_exit_status_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run_server(&["--tcp", &address, "--udp", "127.0.0.1:0"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn a_taken_udp_port_is_one_clear_line_and_exit_status_1() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run_server(&["--tcp", "127.0.0.1:0", "--udp", &address]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("udp {address}")), "{stderr}");
}

#[test]
fn an_unusable_address_is_one_clear_line_and_exit_status_1() {
    // Not an address of this machine (TEST-NET-3), and not an address at all.
    for address in ["203.0.113.7:7878", "not-an-address"] {
        let output = run_server(&["--tcp", address, "--udp", "127.0.0.1:0"]);
        assert_eq!(output.status.code(), Some(1), "{address}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(address), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The backlog a listening socket was given, as `ss` reports it (Send-Q).
/// `ss` (iproute2) is required: `.ci/run` installs it.
fn listen_backlog(port: u16) -> Option<u32> {
    let output = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("`ss` from iproute2 is needed for this test (.ci/run installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn the_listen_backlog_is_the_system_maximum_unless_set() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let server = Server::start(&[]);
    assert_eq!(listen_backlog(server.tcp.port()), Some(somaxconn));
    let server = Server::start(&["--backlog", "77"]);
    assert_eq!(listen_backlog(server.tcp.port()), Some(77));
}

#[test]
fn a_burst_of_two_thousand_connects_is_all_served() {
    const CLIENTS: usize = 2000;
    raise_fd_limit();
    let server = Server::start(&["--workers", "2"]);
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let line = format!("client {i}\n");
        round_trip(client, line.as_bytes(), line.to_uppercase().as_bytes());
    }
}

#[test]
fn every_flag_has_an_environment_variable_named_in_help() {
    let help = run_server(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    let flags: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split([' ', ',', '<']).next())
        .filter(|flag| !["help", "version"].contains(flag))
        .collect();
    assert!(flags.len() >= 13, "{text}");
    for flag in flags {
        let variable = format!("[env: UPCASE_{}=", flag.to_uppercase().replace('-', "_"));
        assert!(
            text.contains(&variable),
            "--{flag} has no {variable}]: {text}"
        );
    }
}

#[test]
fn the_environment_configures_the_server_as_the_flags_do() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .env("UPCASE_TCP", "127.0.0.1:0")
        .env("UPCASE_NO_UDP", "yes")
        .env("UPCASE_ADMIN", "127.0.0.1:0")
        .env("UPCASE_MAX_LINE", "8")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut announced = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        announced.push(line.trim().to_string());
    }
    // No udp line: UPCASE_NO_UDP; an admin line: UPCASE_ADMIN.
    assert!(
        announced[0].starts_with("tcp listening on 127.0.0.1:"),
        "{announced:?}"
    );
    assert!(
        announced[1].starts_with("admin listening on "),
        "{announced:?}"
    );
    let tcp = announced[0].rsplit(' ').next().unwrap();
    let mut client = std::net::TcpStream::connect(tcp).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    std::io::Write::write_all(&mut client, b"123456789\n").unwrap();
    assert_eq!(read_to_close(&mut client), b"error: line exceeds 8 bytes\n");
    send_signal(child.id(), libc::SIGTERM);
    assert!(child.wait().unwrap().success());

    // A variable that turns a switch off leaves --udp usable; one that
    // turns it on conflicts with it like the flag does.
    let output = Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .args(["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .env("UPCASE_NO_UDP", "yes")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("UPCASE_NO_UDP"));
    let server = Server::start_with(&[], |command| {
        command.env("UPCASE_NO_UDP", "no");
    });
    assert!(server.udp.is_some());
}

/// `--version` names the commit `build.rs` recorded (the one
/// `upcase_build_info` reports), and in a git checkout that is HEAD.
#[test]
fn version_names_the_commit_built_from() {
    let commit = upcase::cli::COMMIT;
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    if std::env::var_os("UPCASE_COMMIT").is_none() {
        assert_eq!(
            commit.map(str::to_string),
            head,
            "the commit recorded is HEAD"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    let expected = match commit {
        Some(commit) => format!("{version} ({commit})"),
        None => version.to_string(),
    };
    for (program, binary) in [
        ("upcase-server", env!("CARGO_BIN_EXE_upcase-server")),
        ("upcase-client", env!("CARGO_BIN_EXE_upcase-client")),
    ] {
        let output = Command::new(binary)
            .arg("--version")
            .output()
            .expect("run --version");
        assert!(output.status.success(), "{program} --version failed");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{program} {expected}\n")
        );
    }
}
