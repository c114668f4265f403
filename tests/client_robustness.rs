//! `upcase-client` as other programs and hostile servers use it: driven
//! through pipes by a parent, against servers that stay silent, cut
//! replies or close early, with stdout closed under it, and Ctrl-C on a
//! terminal. Every case here hung or lied (exit 0) before its fix.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn client() -> Command {
    Command::new(env!("CARGO_BIN_EXE_upcase-client"))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_silent_server_is_a_timeout_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let holder = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(4));
        drop(stream);
    });
    let started = Instant::now();
    let output = run_client(&["--timeout", "1", &address], b"hi\n".to_vec());
    assert!(!output.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited for the server to close"
    );
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("no reply") && stderr.contains(&address),
        "{stderr}"
    );
    holder.join().unwrap();
}

#[test]
fn a_server_that_closes_after_half_a_reply_is_a_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        stream.write_all(b"HAL").unwrap();
    });
    let output = run_client(&[&address], b"half\nsecond\n".to_vec());
    server.join().unwrap();
    assert!(!output.status.success(), "exit 0 after a cut reply");
    assert!(
        stderr_of(&output).contains("unanswered"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn an_over_long_line_is_a_failure_even_when_little_follows() {
    let server = Server::start(&["--max-line", "10"]);
    let output = run_client(
        &[&server.tcp.to_string()],
        b"ok\nthis line is too long\nx\n".to_vec(),
    );
    assert!(!output.status.success());
    assert!(output
        .stdout
        .starts_with(b"OK\nerror: line exceeds 10 bytes\n"));
    assert!(
        stderr_of(&output).contains("line exceeds"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_closed_stdout_ends_the_client_promptly() {
    // `yes | upcase-client | head -1`
    let server = Server::start(&[]);
    let mut child = client()
        .arg(server.tcp.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    thread::spawn(move || {
        let line = b"y\n".repeat(4096);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && stdin.write_all(&line).is_ok() {}
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "Y\n");
    // stdout is dropped (closed) here, as `head -1` does.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client kept running");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reconnect_resends_exactly_the_unanswered_lines() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        // First connection: answer two lines, then leave (a restart).
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        for _ in 0..2 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
        }
        drop(reader);
        stream.shutdown(std::net::Shutdown::Both).unwrap();
        drop(stream);
        // Second connection: answer everything.
        let (stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
            received.push(std::mem::take(&mut line));
        }
        received
    });
    let input: String = (0..50).map(|i| format!("line {i}\n")).collect();
    let output = run_client(&["--reconnect", &address], input.clone().into_bytes());
    let resent = server.join().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        input.to_uppercase()
    );
    // Lines 0 and 1 were answered by the first server and never resent.
    assert_eq!(resent.len(), 48, "{resent:?}");
    assert_eq!(resent[0], "line 2\n");
}

/// Runs a Python script with the client's path and the server's address
/// as arguments; fails the test with its output unless it exits 0.
fn python_with_client(script: &str, server: &Server) {
    let output = Command::new("python3")
        .args([
            "-c",
            script,
            env!("CARGO_BIN_EXE_upcase-client"),
            &server.tcp.to_string(),
        ])
        .output()
        .expect("python3 runs (CI installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A parent that writes the client's stdin and reads its stdout from one
/// thread: Python's `subprocess.run(input=..., capture_output=True)`.
fn python_drives_the_client(model: &str) {
    let server = Server::start_model(model, &[]);
    let script = r#"
import subprocess, sys
data = b"".join(b"line %d of five megabytes, strasse and fine\n" % i for i in range(110000))
assert len(data) > 5_000_000
for attempt in range(5):
    done = subprocess.run([sys.argv[1], sys.argv[2]], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == data.upper(), "attempt %d: %d bytes" % (attempt, len(done.stdout))
print("ok")
"#;
    python_with_client(script, &server);
}

/// Ctrl-C on a terminal ends the interactive client at once.
fn ctrl_c_ends_the_interactive_client(model: &str) {
    let server = Server::start_model(model, &[]);
    let script = r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], sys.argv[2]])
def read_until(text, limit=10):
    seen, end = b"", time.time() + limit
    while text not in seen and time.time() < end:
        if select.select([fd], [], [], 0.2)[0]:
            seen += os.read(fd, 1024)
    assert text in seen, seen
read_until(b"> ")
os.write(fd, b"abc\n")
read_until(b"ABC")
os.write(fd, b"\x03")
end = time.time() + 5
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exited", status)
        sys.exit(0)
    time.sleep(0.05)
sys.exit("still running 5 s after Ctrl-C")
"#;
    python_with_client(script, &server);
}

/// 6 MB of lines, one 100 KB line, then 5 MB more: every reply before the
/// long line arrives whole, then the error line, and never a reset.
fn replies_before_an_over_long_line_all_arrive(model: &str) {
    let server = Server::start_model(model, &[]);
    let mut before = Vec::new();
    let mut i = 0;
    while before.len() < 6_000_000 {
        before.extend_from_slice(format!("line {i} before the long one\n").as_bytes());
        i += 1;
    }
    let mut input = before.clone();
    input.extend_from_slice(&vec![b'x'; 100_000]);
    input.push(b'\n');
    while input.len() < before.len() + 5_100_000 {
        input.extend_from_slice(b"a line after the long one\n");
    }
    let output = run_client(&[&server.tcp.to_string()], input);
    let mut expected = before.to_ascii_uppercase();
    expected.extend_from_slice(b"error: line exceeds 65536 bytes\n");
    assert_eq!(
        output.stdout.len(),
        expected.len(),
        "{}",
        stderr_of(&output)
    );
    assert!(output.stdout == expected);
    assert!(!output.status.success());
}

for_every_model!(
    python_drives_the_client,
    ctrl_c_ends_the_interactive_client,
    replies_before_an_over_long_line_all_arrive,
);

#[test]
fn a_name_with_several_addresses_reaches_the_one_that_listens() {
    // `localhost` may resolve to ::1 first; the server is on 127.0.0.1 only.
    let server = Server::start(&[]);
    let by_name = format!("localhost:{}", server.tcp.port());
    let output = run_client(&[&by_name], b"hello\n".to_vec());
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"HELLO\n");
}
