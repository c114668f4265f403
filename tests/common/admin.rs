//! Talking to the admin endpoint the way its callers do: Prometheus
//! scrapes read through a real parser, raw HTTP requests whose whole
//! response a test can read, and the one way a server that must refuse
//! its `--admin` address is checked. Shared by `tests/admin*.rs`.

use super::PATIENCE;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The exposition, as a Prometheus parser reads it (the test fails if it
/// does not).
pub fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("a Prometheus parser accepts the exposition")
}

/// The value of the first sample named `name`.
pub fn value(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    sample_value(scrape, name, |_| true, name)
}

/// The value of the sample `name{label="want"}`.
pub fn labelled(scrape: &prometheus_parse::Scrape, name: &str, label: &str, want: &str) -> f64 {
    let series = format!("{name}{{{label}=\"{want}\"}}");
    sample_value(scrape, name, |s| s.labels.get(label) == Some(want), &series)
}

fn sample_value(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    matches: impl Fn(&prometheus_parse::Sample) -> bool,
    series: &str,
) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && matches(s))
        .unwrap_or_else(|| panic!("no {series}"));
    match sample.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
        ref other => panic!("{series}: {other:?}"),
    }
}

/// A request on a fresh connection; returns the whole response (status
/// line, headers, body). `None` if the server closed or did not answer
/// within `wait`.
pub fn request(admin: SocketAddr, head: &str, wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(admin).ok()?;
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(head.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    response.starts_with("HTTP/1.").then_some(response)
}

/// `/metrics`, parsed, if it answered 200 within `wait`.
pub fn metrics_within(admin: SocketAddr, wait: Duration) -> Option<prometheus_parse::Scrape> {
    let response = request(
        admin,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        wait,
    )?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| parse_metrics(body))
}

/// Retries (bounded) until a scrape answers 200: while silent clients
/// hold every slot, a newcomer may get 503 for up to a second.
pub fn scrape(admin: SocketAddr) -> prometheus_parse::Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(scrape) = metrics_within(admin, Duration::from_secs(5)) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "/metrics never answered");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the server binary with `--admin admin` and no token, adjusted by
/// `adjust` (e.g. into a namespace), and checks that it refuses before
/// binding anything: exit 2 within 10 s, one line naming
/// `--admin-token-file`, nothing announced.
pub fn refused_without_a_token(admin: &str, adjust: impl FnOnce(&mut Command)) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    command.args(["--tcp", "127.0.0.1:0", "--no-udp", "--admin", admin]);
    adjust(&mut command);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("--admin {admin} without a token started serving");
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{admin}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--admin-token-file"), "{stderr}");
    assert!(output.stdout.is_empty(), "{admin}: nothing was bound");
}

/// A token file in a fresh directory, removed on drop.
pub struct TokenFile {
    dir: std::path::PathBuf,
    /// The file holding the token (and a newline).
    pub path: std::path::PathBuf,
}

impl TokenFile {
    pub fn new(tag: &str, token: &str) -> TokenFile {
        let dir = std::env::temp_dir().join(format!("upcase-admin-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, format!("{token}\n")).unwrap();
        TokenFile { dir, path }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
