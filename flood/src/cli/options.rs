//! The flags turned into what the library runs: the flood's [`Options`]
//! and each report's options, every flag the command cannot run with a
//! [`UsageError`] (exit status 2) before anything starts.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use super::{BenchArgs, CompareArgs, FloodArgs, SoakArgs};
use crate::error::UsageError;
use crate::reports::bench::{BenchOptions, Server};
use crate::reports::compare::CompareOptions;
use crate::reports::lab::LabOptions;
use crate::reports::soak::SoakOptions;
use crate::run::{Options, Target};

fn seconds(value: f64, flag: &'static str) -> Result<Duration, UsageError> {
    Duration::try_from_secs_f64(value).map_err(|_| UsageError::NotPositive(flag))
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr, UsageError> {
    upcase::net::resolve(addr).map_err(|source| UsageError::Address {
        addr: addr.to_string(),
        source,
    })
}

impl FloodArgs {
    /// The TLS settings `--tls --ca --server-name` ask for, if any.
    fn tls_client(&self) -> Result<Option<upcase::client::TlsClient>, UsageError> {
        let (true, Some(addr)) = (self.tls, &self.tcp) else {
            return Ok(None);
        };
        Ok(Some(upcase::client::TlsClient {
            config: upcase::certificates::client_config(self.ca.as_deref())
                .map_err(UsageError::Tls)?,
            server_name: upcase::certificates::server_name(self.server_name.as_deref(), addr)
                .map_err(UsageError::Tls)?,
        }))
    }

    /// The flood these flags ask for.
    pub fn options(&self) -> Result<Options, UsageError> {
        if !(0.0..=100.0).contains(&self.max_loss) {
            return Err(UsageError::MaxLoss);
        }
        if self.udp.is_some() && self.line_bytes > upcase::codec::MAX_DATAGRAM {
            return Err(UsageError::LineBytes {
                given: self.line_bytes,
                most: upcase::codec::MAX_DATAGRAM,
            });
        }
        let target = match (&self.tcp, &self.udp) {
            (Some(addr), _) => Target::Tcp(resolve(addr)?),
            (None, Some(addr)) => Target::Udp(resolve(addr)?),
            (None, None) => return Err(UsageError::NoTarget),
        };
        let duration = self
            .duration
            .map(|d| seconds(d, "--duration"))
            .transpose()?;
        let timeout = match self.timeout {
            Some(t) => seconds(t, "--timeout")?,
            None => duration.map_or(Duration::from_secs(300), |d| d + Duration::from_secs(30)),
        };
        Ok(Options {
            target,
            clients: self.clients,
            lines: self.lines,
            line_bytes: self.line_bytes,
            duration,
            pipeline: self.pipeline,
            text: self.text,
            connect_per_line: self.connect_per_line,
            reconnect: self.reconnect,
            idle: self.idle,
            max_loss_pct: self.max_loss,
            timeout,
            progress: !self.json && io::stderr().is_terminal(),
            tls: self.tls_client()?,
            threads: self.threads,
        })
    }
}

impl SoakArgs {
    /// The soak these flags ask for.
    pub fn options(&self) -> Result<SoakOptions, UsageError> {
        Ok(SoakOptions {
            server: server_binary(&self.server)?,
            seconds: self.seconds,
        })
    }
}

impl CompareArgs {
    /// The compare report these flags ask for.
    pub fn compare_options(&self) -> Result<CompareOptions, UsageError> {
        Ok(CompareOptions {
            server: server_binary(&self.server)?,
            out: self.out.clone(),
            quick: self.quick,
            progress: io::stderr().is_terminal(),
        })
    }

    /// The lab these flags ask for.
    pub fn lab_options(&self) -> Result<LabOptions, UsageError> {
        Ok(LabOptions {
            server: server_binary(&self.server)?,
            out: self.out.clone(),
            quick: self.quick,
        })
    }
}

impl BenchArgs {
    /// The bench these flags ask for, every server's program built.
    pub fn options(&self) -> Result<BenchOptions, UsageError> {
        if !(self.secs.is_finite() && self.secs > 0.0) {
            return Err(UsageError::NotPositive("--secs"));
        }
        let servers = if self.servers.is_empty() {
            default_bench_servers()?
        } else {
            self.servers
                .iter()
                .map(|s| bench_server(s))
                .collect::<Result<_, _>>()?
        };
        if let Some(missing) = servers.iter().find(|s| !s.binary.is_file()) {
            return Err(UsageError::NotBuilt {
                name: missing.name.clone(),
                binary: missing.binary.clone(),
            });
        }
        Ok(BenchOptions {
            servers,
            reference: "tokio".to_string(),
            floor: "floor".to_string(),
            bulk_client: beside_this_program()?.join("bulk-client"),
            reps: self.reps,
            secs: self.secs,
            idle: self.idle,
            only: self.only.clone(),
            pin: !self.no_pin,
            command: self.command.clone(),
        })
    }
}

/// The server binary to start: the one given, or the one beside this program.
fn server_binary(given: &Option<PathBuf>) -> Result<PathBuf, UsageError> {
    match given {
        Some(path) => Ok(path.clone()),
        None => crate::server_process::server_beside_this_program().map_err(UsageError::NoServer),
    }
}

/// The two programs that serve `--tls` (the TLS rows skip the others).
fn serves_tls(binary: &std::path::Path) -> bool {
    binary
        .file_name()
        .is_some_and(|file| file == "upcase-server" || file == "tokio-upcase")
}

/// `NAME=PATH [FLAGS]` as a bench server.
fn bench_server(given: &str) -> Result<Server, UsageError> {
    let (name, command) = given
        .split_once('=')
        .ok_or_else(|| UsageError::BenchServer(given.to_string()))?;
    let mut words = command.split_whitespace().map(str::to_string);
    let binary = words
        .next()
        .ok_or_else(|| UsageError::NoProgram(given.to_string()))?;
    let binary = PathBuf::from(binary);
    Ok(Server {
        name: name.to_string(),
        tls: serves_tls(&binary),
        binary,
        args: words.collect(),
    })
}

/// The bench's default servers: the peers and upcase-server beside this program.
fn default_bench_servers() -> Result<Vec<Server>, UsageError> {
    let dir = beside_this_program()?;
    let server = |name: &str, binary: &str, args: &[&str]| Server {
        name: name.to_string(),
        binary: dir.join(binary),
        args: args.iter().map(|a| a.to_string()).collect(),
        tls: serves_tls(std::path::Path::new(binary)),
    };
    Ok(vec![
        server("tokio", "tokio-upcase", &[]),
        server("floor", "floor-epoll", &[]),
        server("std", "std-threads", &[]),
        server("pool", "upcase-server", &[]),
        server("event-loops", "upcase-server", &["--model", "event-loops"]),
    ])
}

fn beside_this_program() -> Result<PathBuf, UsageError> {
    let me = std::env::current_exe().map_err(UsageError::ThisProgram)?;
    me.parent()
        .map(PathBuf::from)
        .ok_or_else(|| UsageError::ThisProgram(io::Error::other("this program has no directory")))
}
