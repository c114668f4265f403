//! The reply side of the TCP client: what counts as an answer, what is
//! printed, and what happens when the connection ends.
//!
//! The client never prints a wrong answer, so this is strict:
//! - A reply is printed only once it is whole: it ends in `\n`, or it is
//!   the reply to the unterminated last line (the whole line uppercased,
//!   which the client can check, since it sent the line) followed by the
//!   server's close. Bytes of a reply the connection's end cut are never
//!   printed: with `--reconnect` the line is resent and its reply printed
//!   once, else the client fails.
//! - One reply may hold at most `--max-reply` bytes; a server that streams
//!   without a newline fails the client instead of filling its memory.
//! - A line starting `error: ` is the server speaking, never an answer
//!   (uppercasing never makes a lowercase `e`). One about the connection
//!   (too many connections, idle timeout) is retried with `--reconnect`;
//!   one about the line (too long) is printed and ends the client, since
//!   resending would only be refused again.
//! - A reply that is due but silent for `--timeout` is an error; time a
//!   person spends typing is not silence.
//! - When the replies end (or stdout closes), the reader returns at once:
//!   it never waits for stdin's end or for a writer blocked on the server.

use super::error::lines_word;
use super::link::{Link, TLS_FAILURE};
use super::stream::{connect, Shared, TcpOptions};
use super::{Backoff, ClientError, PROMPT};
use crate::codec::TOO_MANY_FROM_ADDRESS_REPLY;
use crate::codec::{self, IDLE_TIMEOUT_REPLY, TOO_MANY_CONNECTIONS_REPLY};
use crate::recover::lock;
use crossbeam_channel::Sender;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Instant;

/// What the server says before it closes a connection, not about a line:
/// the same lines sent again on a new connection may well be answered.
const ABOUT_THE_CONNECTION: [&[u8]; 3] = [
    TOO_MANY_CONNECTIONS_REPLY,
    TOO_MANY_FROM_ADDRESS_REPLY,
    IDLE_TIMEOUT_REPLY,
];

/// Reads the replies, prints the whole ones, and reconnects when allowed.
pub(super) struct ReplyReader<W> {
    pub(super) name: String,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) options: TcpOptions,
    pub(super) shared: Shared,
    /// Hands the writer each new connection.
    pub(super) reconnected: Sender<Link>,
    pub(super) output: W,
    pub(super) backoff: Backoff,
}

/// How one connection's replies ended.
enum Ended {
    /// Every line was answered and input is over (with the unterminated
    /// last reply, if any).
    Complete(Vec<u8>),
    /// The server closed or reset with lines unanswered.
    Cut(ClientError),
}

impl<W: Write> ReplyReader<W> {
    pub(super) fn run(&mut self, mut stream: Link) -> Result<(), ClientError> {
        if self.options.interactive {
            self.prompt()?;
        }
        loop {
            match self.read_replies(&mut stream)? {
                Ended::Complete(last) => return self.finish(&last),
                Ended::Cut(error) if !self.options.reconnect => return Err(error),
                Ended::Cut(error) => stream = self.reconnect(error)?,
            }
        }
    }

    /// Connects again with back-off until it works or the outage has
    /// lasted its limit, and hands the writer the new connection.
    fn reconnect(&mut self, why: ClientError) -> Result<Link, ClientError> {
        if !self.backoff.in_outage() {
            // One line per outage, however many tries it takes.
            let unanswered = lock(&self.shared).lines.len();
            eprintln!(
                "upcase-client: {why}; reconnecting (for up to {} s) to resend {unanswered} unanswered {}",
                self.backoff.limit().as_secs(),
                lines_word(unanswered)
            );
        }
        let mut last = why;
        while let Some(delay) = self.backoff.next_delay() {
            thread::sleep(delay);
            match connect(&self.addrs, &self.options) {
                Ok(fresh) => {
                    let writer = fresh.try_clone().map_err(|e| self.failed(e))?;
                    self.reconnected
                        .send(writer)
                        .map_err(|_| ClientError::WriterGone)?;
                    return Ok(fresh);
                }
                // The same certificate would come back: no use retrying.
                Err(e) if e.kind() == TLS_FAILURE => return Err(self.failed(e)),
                Err(e) => last = self.failed(e),
            }
        }
        Err(ClientError::GaveUp {
            after: self.backoff.limit(),
            last: Box::new(last),
        })
    }

    fn finish(&mut self, last_reply: &[u8]) -> Result<(), ClientError> {
        self.write(last_reply)?;
        if self.options.interactive {
            // End the prompt line.
            self.write(b"\n")?;
        }
        self.flush()
    }

    /// Reads replies from one connection until it ends.
    fn read_replies(&mut self, stream: &mut Link) -> Result<Ended, ClientError> {
        let mut buf = vec![0u8; 64 * 1024];
        // The reply being received: everything after the last newline.
        let mut pending = Vec::new();
        let mut last_progress = Instant::now();
        loop {
            let received = match stream.read(&mut buf) {
                Ok(0) => return Ok(self.end_of_replies(&pending)),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Only a reply that is due can be late.
                    let due = !lock(&self.shared).lines.is_empty();
                    if !due {
                        // Up, and nothing owed: not an outage.
                        self.backoff.reset();
                        last_progress = Instant::now();
                    } else if last_progress.elapsed() >= self.options.timeout {
                        let _ = stream.socket().shutdown(Shutdown::Both);
                        return Err(ClientError::Timeout {
                            addr: self.name.clone(),
                            timeout: self.options.timeout,
                        });
                    }
                    continue;
                }
                Err(e) if e.kind() == TLS_FAILURE => return Err(self.failed(e)),
                Err(e) => return Ok(Ended::Cut(self.failed(e))),
            };
            last_progress = Instant::now();
            if let Some(ended) = self.take_replies(&buf[..received], &mut pending)? {
                return Ok(ended);
            }
        }
    }

    /// Prints every reply `chunk` completes and keeps the rest in
    /// `pending`. Returns how the connection ended if a server's error
    /// line ended it.
    fn take_replies(
        &mut self,
        chunk: &[u8],
        pending: &mut Vec<u8>,
    ) -> Result<Option<Ended>, ClientError> {
        let mut answered = 0;
        let mut rest = chunk;
        let outcome = loop {
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                if pending.len() + rest.len() > self.options.max_reply {
                    break Err(self.too_long());
                }
                pending.extend_from_slice(rest);
                break Ok(None);
            };
            let (tail, after) = rest.split_at(newline + 1);
            rest = after;
            if pending.len() + tail.len() > self.options.max_reply {
                break Err(self.too_long());
            }
            let reply: &[u8] = if pending.is_empty() {
                tail
            } else {
                pending.extend_from_slice(tail);
                pending
            };
            if reply.starts_with(b"error: ") {
                break self.server_error(reply);
            }
            if let Err(error) = self.print_reply(reply) {
                break Err(error);
            }
            answered += 1;
            pending.clear();
        };
        if answered > 0 {
            lock(&self.shared).lines.drain(..answered);
            self.backoff.reset();
        }
        self.flush()?;
        outcome
    }

    fn print_reply(&mut self, reply: &[u8]) -> Result<(), ClientError> {
        self.write(reply)?;
        if self.options.interactive {
            // Each reply on the screen, then the next prompt.
            self.prompt()?;
        }
        Ok(())
    }

    /// The server said `error: ...`: retry (`--reconnect`, and about the
    /// connection) or print it and fail.
    fn server_error(&mut self, line: &[u8]) -> Result<Option<Ended>, ClientError> {
        let said = String::from_utf8_lossy(line).trim_end().to_string();
        let error = ClientError::ServerSaid {
            addr: self.name.clone(),
            said,
        };
        if self.options.reconnect && ABOUT_THE_CONNECTION.contains(&line) {
            return Ok(Some(Ended::Cut(error)));
        }
        // The answer to a line, though not its uppercase: shown with the
        // replies, where the reader of the output looks for it.
        self.write(line)?;
        Err(error)
    }

    /// The connection failed with `error`.
    fn failed(&self, error: io::Error) -> ClientError {
        let transport = if self.options.tls.is_some() {
            "tls"
        } else {
            "tcp"
        };
        ClientError::connection(&self.name, transport, error)
    }

    fn too_long(&self) -> ClientError {
        ClientError::ReplyTooLong {
            addr: self.name.clone(),
            max_reply: self.options.max_reply,
        }
    }

    /// The server closed its side: complete, or cut short?
    fn end_of_replies(&mut self, pending: &[u8]) -> Ended {
        let mut state = lock(&self.shared);
        let unanswered = state.lines.len();
        if !pending.is_empty() {
            let whole = state.input_done
                && unanswered == 1
                && is_reply_to_unterminated_line(&state.lines[0], pending);
            if whole {
                state.lines.clear();
                return Ended::Complete(pending.to_vec());
            }
            return Ended::Cut(ClientError::CutInReply {
                addr: self.name.clone(),
                received: pending.len(),
                unanswered,
            });
        }
        if unanswered == 0 && state.input_done {
            return Ended::Complete(Vec::new());
        }
        if unanswered == 0 {
            return Ended::Cut(ClientError::ClosedBeforeInputEnded {
                addr: self.name.clone(),
            });
        }
        Ended::Cut(ClientError::ClosedWithLinesUnanswered {
            addr: self.name.clone(),
            unanswered,
        })
    }

    fn prompt(&mut self) -> Result<(), ClientError> {
        self.write(PROMPT.as_bytes())?;
        self.flush()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.output.write_all(bytes).map_err(ClientError::Stdout)
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        self.output.flush().map_err(ClientError::Stdout)
    }
}

/// Whether `reply`, ended by the server's close, is the whole reply to
/// `line`: an unterminated line, answered by exactly its uppercase.
fn is_reply_to_unterminated_line(line: &[u8], reply: &[u8]) -> bool {
    !line.ends_with(b"\n") && codec::uppercase(line) == reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_whole_uppercase_of_an_unterminated_line_is_its_reply() {
        assert!(is_reply_to_unterminated_line(
            "straße".as_bytes(),
            b"STRASSE"
        ));
        assert!(!is_reply_to_unterminated_line(b"hello", b"HEL"));
        assert!(!is_reply_to_unterminated_line(b"hello", b"HELLO!"));
        // A terminated line's reply ends in a newline, never in a close.
        assert!(!is_reply_to_unterminated_line(b"hello\n", b"HELLO\n"));
    }
}
