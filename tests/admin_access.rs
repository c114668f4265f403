//! Who may call the admin endpoint (issue 25): an address other than
//! loopback needs `--admin-token-file` or the server refuses to start, and
//! with a token every request but `/healthz` needs the bearer. Binary
//! tests: the refusal is the command line's, and the namespace test runs
//! the server inside a network namespace it creates.

mod common;

use common::admin::*;
use common::*;

#[test]
fn a_non_loopback_admin_address_without_a_token_refuses_to_start() {
    for address in ["0.0.0.0:0", "[::]:0"] {
        refused_without_a_token(address, |_| {});
    }
}

/// Every request but `/healthz` answered 401 (with the challenge) unless
/// it carries `Authorization: Bearer token`, and 200 with it.
fn needs_the_bearer(admin: std::net::SocketAddr, token: &str) {
    for head in [
        "GET /metrics HTTP/1.0\r\n\r\n".to_string(),
        "GET /stats.json HTTP/1.0\r\nAuthorization: Bearer wrong\r\n\r\n".to_string(),
        format!("GET / HTTP/1.0\r\nAuthorization: Basic {token}\r\n\r\n"),
    ] {
        let response = request(admin, &head, PATIENCE).unwrap();
        assert!(response.starts_with("HTTP/1.1 401 "), "{head}: {response}");
        assert!(
            response.contains("\r\nWWW-Authenticate: Bearer"),
            "{response}"
        );
    }
    let with_bearer = format!("GET /metrics HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n");
    let ok = request(admin, &with_bearer, PATIENCE).unwrap();
    assert!(
        ok.starts_with("HTTP/1.1 200 ") && ok.contains("upcase_lines_total"),
        "{ok}"
    );
    let health = request(admin, "GET /healthz HTTP/1.0\r\n\r\n", PATIENCE).unwrap();
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
}

#[test]
fn with_a_token_requests_need_the_bearer_and_healthz_stays_open() {
    let token = TokenFile::new("token", "k9-secret-token");
    // 127.0.0.2 is loopback too: a token is optional there, and enforced
    // when given.
    let server = Server::start(&["--admin", "127.0.0.2:0", "--admin-token-file", token.arg()]);
    needs_the_bearer(server.admin.unwrap(), "k9-secret-token");
}

/// A namespace with a non-loopback interface holding a private address,
/// as a host's LAN address would be: its address.
fn namespace_with_an_address() -> (common::netns::Namespace, std::net::Ipv4Addr) {
    let netns = common::netns::Namespace::create("admin");
    // A veth pair, both ends inside: an ordinary interface, not `lo`.
    netns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
    let pid = std::process::id();
    let address = std::net::Ipv4Addr::new(10, 213, (pid >> 8) as u8, (pid % 250) as u8 + 1);
    netns.ip(&["addr", "add", &format!("{address}/24"), "dev", "up0"]);
    netns.ip(&["link", "set", "up0", "up"]);
    netns.ip(&["link", "set", "up1", "up"]);
    (netns, address)
}

#[test]
fn an_admin_address_on_a_real_interface_needs_the_token() {
    let (netns, address) = namespace_with_an_address();
    let admin = format!("{address}:0");
    refused_without_a_token(&admin, |command| netns.put(command));
    // With one: served on that address, 401 without the bearer, 200 with.
    let token = TokenFile::new("netns", "netns-secret");
    let server = Server::start_with(
        &[
            "--no-udp",
            "--admin",
            &admin,
            "--admin-token-file",
            token.arg(),
        ],
        |command| netns.put(command),
    );
    let bound = server.admin.unwrap();
    assert_eq!(bound.ip(), std::net::IpAddr::V4(address));
    netns.enter();
    needs_the_bearer(bound, "netns-secret");
    drop(server);
}
