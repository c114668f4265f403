//! The admin connection's unit tests, over a real loopback socket pair:
//! pipelined requests, an oversized head, HTTP/1.0 and garbage.

use super::*;
use std::net::TcpListener;

fn pair() -> (TcpStream, HttpConnection) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, HttpConnection::new(server).unwrap())
}

fn ok(request: &Request) -> Response {
    Response::text(200, &format!("{} {}\n", request.method, request.path))
}

/// Serves until the connection waits with nothing more to read.
fn serve_all(connection: &mut HttpConnection) -> Turn {
    let mut route = ok;
    loop {
        match connection.serve(&mut route) {
            Turn::Again => continue,
            other => return other,
        }
    }
}

fn read_available(client: &mut TcpStream) -> String {
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = client.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn pipelined_requests_are_answered_in_order_with_lengths() {
    let (mut client, mut connection) = pair();
    client
        .write_all(b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n")
        .unwrap();
    // Both requests may not have arrived in one read; serve until both
    // responses are out.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = String::new();
    while got.matches("HTTP/1.1 200").count() < 2 && Instant::now() < deadline {
        assert_eq!(serve_all(&mut connection), Turn::Wait);
        got.push_str(&read_available(&mut client));
    }
    let first = got.find("GET /a\n").expect("the first body");
    assert!(got[..first].contains("Content-Length: 7\r\n"), "{got}");
    assert!(!got.contains("HEAD /b\n"), "HEAD has no body: {got}");
    assert!(
        got.ends_with("Content-Length: 8\r\nCache-Control: no-store\r\n\r\n"),
        "{got}"
    );
    assert!(!got.contains("Connection: close"));
}

#[test]
fn an_oversized_head_gets_431_and_the_connection_closes() {
    let (mut client, mut connection) = pair();
    client.write_all(b"GET / HTTP/1.1\r\nX: ").unwrap();
    client.write_all(&vec![b'a'; MAX_HEAD]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while connection.phase == Phase::Reading && Instant::now() < deadline {
        serve_all(&mut connection);
    }
    assert!(read_available(&mut client).starts_with("HTTP/1.1 431 "));
    assert!(connection.head.capacity() <= MAX_HEAD);
}

#[test]
fn http_1_0_and_garbage_close_after_the_response() {
    for (request, status) in [
        (&b"GET / HTTP/1.0\r\n\r\n"[..], "200"),
        (b"\x01\x02 nonsense\r\n\r\n", "400"),
    ] {
        let (mut client, mut connection) = pair();
        client.write_all(request).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while serve_all(&mut connection) != Turn::Closed && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut response = String::new();
        client.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{response}"
        );
        assert!(response.contains("Connection: close\r\n"), "{response}");
    }
}
