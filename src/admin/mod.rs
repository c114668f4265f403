//! `--admin ADDR`: watching a running server.
//!
//! A small blocking HTTP server (tiny_http) on its own thread serves:
//! - `/metrics`: the Prometheus text format ([`metrics`]);
//! - `/stats.json`: the same numbers as JSON, for the page and scripts;
//! - `/`: a self-contained live page (no network fetches) that polls
//!   `/stats.json` a few times a second and draws the workers, the queue,
//!   the parked connections and lines per second.
//!
//! Everything is read at request time from counters the server keeps
//! anyway, so serving metrics adds nothing to the hot path.

pub mod metrics;

use crate::context::Context;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

const PAGE: &str = include_str!("page.html");

/// Starts serving on `listener`; the thread ends at shutdown.
pub fn start(listener: TcpListener, ctx: &Arc<Context>) -> io::Result<JoinHandle<()>> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| io::Error::other(format!("admin endpoint: {e}")))?;
    let server = Arc::new(server);
    let unblock = Arc::clone(&server);
    ctx.shutdown.on_trigger(move || unblock.unblock());
    let ctx = Arc::clone(ctx);
    thread::Builder::new()
        .name("admin".into())
        .spawn(move || serve(&server, &ctx))
}

fn serve(server: &tiny_http::Server, ctx: &Context) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let response = match path.as_str() {
            "/metrics" => text(metrics::prometheus(ctx), metrics::CONTENT_TYPE),
            "/stats.json" => text(metrics::json(ctx), "application/json"),
            "/" | "/index.html" => text(PAGE.to_string(), "text/html; charset=utf-8"),
            _ => text("not found\n".into(), "text/plain").with_status_code(404),
        };
        if let Err(error) = request.respond(response) {
            log::debug!("admin: cannot answer {path}: {error}");
        }
        if ctx.shutdown.is_triggered() {
            break;
        }
    }
}

fn text(body: String, content_type: &str) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let response = tiny_http::Response::from_string(body);
    match tiny_http::Header::from_bytes("Content-Type", content_type) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}
