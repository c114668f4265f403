//! How a thread with parked connections waits for the next turn's work.
//!
//! Why it is its own file: waiting is where a thread trades latency for
//! CPU (not at all while work is due, a few microseconds of looking while
//! that pays, else a sleep), and where a `pool` worker also watches its
//! channel ([`Elsewhere`]); the turn itself is in the parent module.

use super::Parked;
use mio::Events;
use std::io;
use std::time::Duration;

/// How soon a draining connection is looked at again while it waits for
/// its last replies to be acknowledged.
const ACK_RECHECK: Duration = Duration::from_millis(5);

/// Work a thread has besides its parked connections, which its poller does
/// not report: a `pool` worker's queued jobs. It is looked for while
/// busy-polling, and announced sleep lets whoever queues it wake the thread.
pub trait Elsewhere {
    /// Whether some is waiting now.
    fn pending(&self) -> bool;
    /// The thread is about to sleep: from now on, queuing work must wake
    /// it. Returns whether work came meanwhile (then it does not sleep).
    fn going_to_sleep(&self) -> bool;
    /// The thread is awake again.
    fn awake(&self);
}

/// No work but the parked connections (and the poller's other sockets).
pub struct Nothing;

impl Elsewhere for Nothing {
    fn pending(&self) -> bool {
        false
    }
    fn going_to_sleep(&self) -> bool {
        false
    }
    fn awake(&self) {}
}

impl Parked {
    /// Waits for readiness: not at all while connections are due another
    /// turn; otherwise looks for a few microseconds while that pays (see
    /// [`busy_poll`](crate::busy_poll)), then sleeps until an event, a
    /// wake-up or the next timer tick. Work `elsewhere` ends the wait too.
    pub fn wait(&mut self, events: &mut Events, elsewhere: &impl Elsewhere) -> io::Result<()> {
        let waited = self.wait_for_events(events, elsewhere);
        self.ctx.activity.woke(self.id, events.iter().count());
        waited
    }

    fn wait_for_events(
        &mut self,
        events: &mut Events,
        elsewhere: &impl Elsewhere,
    ) -> io::Result<()> {
        if !self.again.is_empty() || elsewhere.pending() {
            return self.poller.poll(events, Some(Duration::ZERO));
        }
        if !self.awaiting_acks.is_empty() {
            return self.poller.poll(events, Some(ACK_RECHECK));
        }
        let poller = &mut self.poller;
        let mut failure = None;
        let found = self
            .busy
            .look(|| match poller.poll(events, Some(Duration::ZERO)) {
                Ok(()) => !events.is_empty() || elsewhere.pending(),
                Err(error) => {
                    failure = Some(error);
                    true
                }
            });
        if found {
            return failure.map_or(Ok(()), Err);
        }
        if elsewhere.going_to_sleep() {
            elsewhere.awake();
            return self.poller.poll(events, Some(Duration::ZERO));
        }
        let (poller, tick) = (&mut self.poller, self.tick);
        let slept = self.busy.sleep(|| poller.poll(events, Some(tick)));
        elsewhere.awake();
        slept
    }
}
