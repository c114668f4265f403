//! `upcase-client` as other programs and hostile servers use it: driven
//! through pipes by a parent, against servers that stay silent, cut
//! replies or close early, with stdout closed under it, and Ctrl-C on a
//! terminal. Every case here hung or lied (exit 0) before its fix.

mod common;

use common::fake::{self, accept, read_line, read_to_fin};
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use upcase::client;

fn client() -> Command {
    Command::new(env!("CARGO_BIN_EXE_upcase-client"))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_silent_server_is_a_timeout_not_a_hang() {
    let server = fake::tcp(|listener| {
        let stream = accept(&listener);
        read_to_fin(&stream);
        // Held open, answering nothing, until the test joins the fake.
        stream
    });
    let started = Instant::now();
    let output = run_client(&["--timeout", "1", &server.addr], b"hi\n".to_vec());
    assert!(!output.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for the server to close"
    );
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("no reply") && stderr.contains(&server.addr),
        "{stderr}"
    );
    server.join();
}

#[test]
fn a_server_that_closes_after_half_a_reply_is_a_failure() {
    let server = fake::tcp(|listener| {
        let stream = accept(&listener);
        assert_eq!(read_to_fin(&stream), b"half\nsecond\n");
        (&stream).write_all(b"HAL").unwrap();
        fake::close(stream);
    });
    let output = run_client(&[&server.addr], b"half\nsecond\n".to_vec());
    server.join();
    assert!(!output.status.success(), "exit 0 after a cut reply");
    assert!(
        stderr_of(&output).contains("unanswered"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(output.stdout, b"", "a cut reply was printed");
}

/// To `sent`, a server answers `answer` and closes: what the client says.
fn cut_last_reply(sent: &'static [u8], answer: &'static [u8]) -> Output {
    let server = fake::tcp(move |listener| {
        let stream = accept(&listener);
        // All of the input (and the client's FIN) first: the client then
        // knows its input ended when the reply ends.
        assert_eq!(read_to_fin(&stream), sent);
        (&stream).write_all(answer).unwrap();
        fake::close(stream);
    });
    let output = run_client(&[&server.addr], sent.to_vec());
    server.join();
    output
}

#[test]
fn a_cut_last_reply_is_a_failure() {
    for sent in [&b"hello world\n"[..], b"hello world"] {
        let output = cut_last_reply(sent, b"HEL");
        let stderr = stderr_of(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{sent:?}: exit 0 on {:?}",
            output.stdout
        );
        assert_eq!(output.stdout, b"", "a cut reply was printed");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("in the middle of a reply"), "{stderr}");
    }
}

#[test]
fn an_unterminated_last_line_is_answered_by_its_whole_reply_and_the_close() {
    let output = cut_last_reply("straße".as_bytes(), b"STRASSE");
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"STRASSE");
    // A longer reply than the line's is no more its reply than a shorter.
    let output = cut_last_reply(b"hello", b"HELLO!");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"");
}

#[test]
fn a_reply_without_end_is_bounded() {
    const STREAMED: usize = 64 << 20;
    let server = fake::tcp(|listener| {
        let stream = accept(&listener);
        read_line(&stream);
        // `A`s and never a newline, until the client goes.
        let chunk = vec![b'A'; 64 * 1024];
        let mut sent = 0;
        while sent < STREAMED && (&stream).write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let output = run_client(&[&server.addr], b"hello\n".to_vec());
    let sent = server.join();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(output.stdout, b"");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--max-reply"), "{stderr}");
    // It stopped reading: what it took is its limit plus socket buffers.
    assert!(sent < STREAMED, "the client read all {sent} bytes");
}

#[test]
fn max_reply_is_what_one_reply_may_hold_newline_included() {
    let server = Server::start(&[]);
    let addr = server.tcp.to_string();
    let fits = run_client(&["--max-reply", "6", &addr], b"hello\n".to_vec());
    assert!(fits.status.success(), "{}", stderr_of(&fits));
    assert_eq!(fits.stdout, b"HELLO\n");
    let over = run_client(&["--max-reply", "6", &addr], "straße\n".as_bytes().to_vec());
    assert_eq!(over.status.code(), Some(1));
    assert!(
        stderr_of(&over).contains("--max-reply"),
        "{}",
        stderr_of(&over)
    );
}

#[test]
fn an_empty_udp_reply_to_a_line_is_not_its_answer() {
    // nginx in front of a backend that is down answers an empty datagram.
    let proxy = fake::udp(|socket| {
        let mut buf = [0u8; 1024];
        let mut tries = 0;
        while let Ok((_, from)) = socket.recv_from(&mut buf) {
            socket.send_to(b"", from).unwrap();
            tries += 1;
            if tries == client::UDP_ATTEMPTS {
                break;
            }
        }
        tries
    });
    let output = run_client(&["--udp", &proxy.addr], b"hello\n".to_vec());
    assert_eq!(proxy.join(), client::UDP_ATTEMPTS);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(output.stdout, b"");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("empty"), "{stderr}");
}

#[test]
fn an_empty_udp_reply_is_retried_and_a_real_answer_taken() {
    // The balancer's next pick is a backend that is up.
    let proxy = fake::udp(|socket| {
        let mut buf = [0u8; 1024];
        let (_, from) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(b"", from).unwrap();
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        socket
            .send_to(&reference_uppercase(&buf[..n]), from)
            .unwrap();
        // An empty line is an empty datagram, and its answer is empty.
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(n, 0);
        socket.send_to(b"", from).unwrap();
    });
    let output = run_client(&["--udp", &proxy.addr], b"hello\n\n".to_vec());
    proxy.join();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"HELLO\n\n");
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
