//! The HTTP messages of the admin endpoint: the [`Request`] the router
//! sees, the [`Response`] it returns and its HTTP/1.1 bytes, and what a
//! request's headers say about the connection (close or keep-alive, a body
//! we do not read, the caller's credentials). No I/O: the connection
//! (`mod.rs`) reads and writes.

/// A request as the router sees it.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ...
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The `Authorization` header, if sent.
    pub authorization: Option<&'a [u8]>,
}

/// A response, before encoding.
#[derive(Debug)]
pub struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status` and a body of type `content_type`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A short plain-text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The HTTP/1.1 bytes, the body left out for `HEAD` (its length kept).
    pub(super) fn encode(&self, head_only: bool, close: bool, out: &mut Vec<u8>) {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// What the headers say about the connection and the caller.
pub(super) struct Meta<'a> {
    pub(super) close: bool,
    pub(super) authorization: Option<&'a [u8]>,
}

impl<'a> Meta<'a> {
    pub(super) fn of(request: &httparse::Request<'_, 'a>) -> Meta<'a> {
        // HTTP/1.0 closes unless told otherwise; keep-alive for 1.0 is not
        // worth its rules here.
        let mut close = request.version != Some(1);
        let mut authorization = None;
        for header in request.headers.iter() {
            let value = header.value;
            if header.name.eq_ignore_ascii_case("connection") {
                close |= value
                    .split(|&b| b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
            } else if header.name.eq_ignore_ascii_case("content-length") {
                // A body is never read: after answering, close instead of
                // taking the body for the next request.
                close |= value.trim_ascii() != b"0";
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                close = true;
            } else if header.name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value);
            }
        }
        Meta {
            close,
            authorization,
        }
    }
}
