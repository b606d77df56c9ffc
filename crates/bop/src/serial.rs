//! One call at a time per channel and direction, so that the order in which bop observes the
//! calls on a stream is the order in which the kernel served them.
//!
//! The graph gives each send and receive on a stream its byte range in the order their exit
//! stops are observed (`bop_graph`). That is the kernel's order whenever the calls do not
//! overlap in bop's view: a thread resumed from its entry stop only after another thread's
//! exit stop was seen makes its call after the other's completed. When two threads of a
//! system (or two processes sharing a socket or a pipe) do enter calls on the same channel in
//! the same direction at once, the order of their exit stops says nothing about which the
//! kernel served first. So the second waits at its entry stop until the first's exit stop is
//! seen. Runtimes that serialise a connection's reads and writes themselves (Go's fd mutex,
//! tokio's `&mut`, Java's channel locks, single-threaded event loops) never wait here.
//!
//! A call that waits longer than a limit behind a call blocked in the kernel is let go: the
//! first call may be blocked for as long as the program likes (a reader waiting for a reply),
//! and holding the second could hang the system. The two calls then overlap, their order is a
//! guess, and bop says so: the guesses are counted, in the summary and the trace's footer. A
//! call whose exit stop merely waits for bop to get to it is waited for as long as it takes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// How long a call may wait for another call on its channel before it is let go.
pub const WAIT_LIMIT: Duration = Duration::from_millis(50);

/// One direction of a socket or pipe: its inode, and whether the calls send into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel {
    /// The socket's or pipe's inode.
    pub object: u64,
    /// Sends (`true`) or receives (`false`).
    pub send: bool,
}

/// A thread stopped at the entry of a call, waiting for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    /// The thread.
    pub tid: i32,
    /// The call's number and arguments, to let it go on later.
    pub nr: i64,
    /// The call's arguments.
    pub args: [u64; 6],
    since: Instant,
    channel: Channel,
}

/// Which thread's call is under way on each channel, and who waits behind it.
#[derive(Debug, Default)]
pub struct Serial {
    busy: HashMap<Channel, i32>,
    holding: HashMap<i32, Channel>,
    waiting: HashMap<Channel, VecDeque<Waiter>>,
    /// threads let go by the limit whose call has not returned yet
    let_go: HashSet<i32>,
    guessed: u64,
}

impl Serial {
    /// Nothing under way.
    pub fn new() -> Serial {
        Serial::default()
    }

    /// Thread `tid` is at the entry of a call on `channel`. `true`: it goes on (and holds the
    /// channel until [`Serial::done`]); `false`: it waits, stopped, until [`Serial::done`] of
    /// the holder or [`Serial::overdue`] hands it back.
    pub fn enter(
        &mut self,
        tid: i32,
        channel: Channel,
        nr: i64,
        args: [u64; 6],
        now: Instant,
    ) -> bool {
        match self.busy.get(&channel) {
            Some(&holder) if holder != tid => {
                self.waiting.entry(channel).or_default().push_back(Waiter {
                    tid,
                    nr,
                    args,
                    since: now,
                    channel,
                });
                false
            }
            _ => {
                self.busy.insert(channel, tid);
                self.holding.insert(tid, channel);
                true
            }
        }
    }

    /// Thread `tid`'s call is over (its exit stop was seen, or the thread is gone), and
    /// `moved` says whether it moved bytes: the next thread waiting for the channel, which
    /// now holds it and must be let go. A call let go by the limit that moved bytes is a
    /// guess; one that moved none (EAGAIN, an error) has no place in the stream to get wrong.
    pub fn done(&mut self, tid: i32, moved: bool) -> Option<Waiter> {
        if self.let_go.remove(&tid) && moved {
            self.guessed += 1;
        }
        let channel = self.holding.remove(&tid)?;
        if self.busy.get(&channel) != Some(&tid) {
            return None;
        }
        self.busy.remove(&channel);
        let q = self.waiting.get_mut(&channel)?;
        let next = q.pop_front();
        if q.is_empty() {
            self.waiting.remove(&channel);
        }
        let next = next?;
        self.busy.insert(channel, next.tid);
        self.holding.insert(next.tid, channel);
        Some(next)
    }

    /// Thread `tid` is gone: it holds nothing and waits for nothing any more. Returns the
    /// thread to let go in its place, if it held a channel someone waits for.
    pub fn gone(&mut self, tid: i32) -> Option<Waiter> {
        for q in self.waiting.values_mut() {
            q.retain(|w| w.tid != tid);
        }
        self.waiting.retain(|_, q| !q.is_empty());
        self.done(tid, false)
    }

    /// The waiters that have waited [`WAIT_LIMIT`] by `now` for a call that `blocked` says is
    /// blocked in the kernel (sleeping, not merely waiting for bop to see its exit): they go
    /// on beside the call under way, and each is a guess in the order of the channel's calls.
    /// Those whose holder is not blocked wait another [`WAIT_LIMIT`]: the holder's exit stop
    /// is on its way, and a loaded bop only has to get to it.
    pub fn overdue(&mut self, now: Instant, blocked: impl Fn(i32) -> bool) -> Vec<Waiter> {
        let mut out = Vec::new();
        for (ch, q) in self.waiting.iter_mut() {
            let due = |w: &Waiter| now.saturating_duration_since(w.since) >= WAIT_LIMIT;
            if !q.front().is_some_and(due) {
                continue;
            }
            if !self.busy.get(ch).is_some_and(|&h| blocked(h)) {
                for w in q.iter_mut().filter(|w| due(w)) {
                    w.since = now;
                }
                continue;
            }
            while q.front().is_some_and(due) {
                out.extend(q.pop_front());
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
        self.let_go.extend(out.iter().map(|w| w.tid));
        out
    }

    /// Every waiter, let go at once (the run is stopping).
    pub fn release_all(&mut self) -> Vec<Waiter> {
        let out: Vec<Waiter> = self.waiting.drain().flat_map(|(_, q)| q).collect();
        out
    }

    /// When the first waiter reaches the limit, if any waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.waiting
            .values()
            .filter_map(|q| q.front())
            .map(|w| w.since + WAIT_LIMIT)
            .min()
    }

    /// Calls let go by the limit that moved bytes: their order among their channel's calls is
    /// a guess.
    pub fn guessed(&self) -> u64 {
        self.guessed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RX: Channel = Channel {
        object: 7,
        send: false,
    };
    const TX: Channel = Channel {
        object: 7,
        send: true,
    };

    #[test]
    fn a_second_call_on_a_channel_waits_for_the_first_and_the_other_direction_does_not() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, RX, 0, [0; 6], t));
        assert!(
            s.enter(2, TX, 1, [0; 6], t),
            "sending does not wait for receiving"
        );
        assert!(!s.enter(3, RX, 0, [3; 6], t));
        assert!(!s.enter(4, RX, 0, [4; 6], t));
        assert_eq!(s.done(2, true), None);
        let next = s.done(1, true).expect("thread 3 goes on");
        assert_eq!((next.tid, next.args), (3, [3; 6]));
        assert!(!s.enter(5, RX, 0, [0; 6], t), "thread 3 holds it now");
        assert_eq!(s.done(3, true).map(|w| w.tid), Some(4));
        assert_eq!(s.done(4, true).map(|w| w.tid), Some(5));
        assert_eq!(s.done(5, true), None);
        assert!(s.enter(6, RX, 0, [0; 6], t));
        assert_eq!(s.guessed(), 0);
    }

    #[test]
    fn a_waiter_is_let_go_at_the_limit_and_counted_as_a_guess() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, RX, 0, [0; 6], t));
        assert!(!s.enter(2, RX, 0, [0; 6], t + Duration::from_millis(10)));
        assert_eq!(
            s.deadline(),
            Some(t + Duration::from_millis(10) + WAIT_LIMIT)
        );
        assert!(s.overdue(t + WAIT_LIMIT, |_| true).is_empty());
        let late = s.overdue(t + Duration::from_millis(10) + WAIT_LIMIT, |h| h == 1);
        assert_eq!(late.iter().map(|w| w.tid).collect::<Vec<_>>(), vec![2]);
        assert_eq!(s.deadline(), None);
        // the let-go thread holds nothing: the holder's end hands the channel to no one
        assert_eq!(s.done(2, true), None);
        assert_eq!(s.guessed(), 1, "it moved bytes: their place is a guess");
        assert_eq!(s.done(1, true), None);
        // a let-go call that moves nothing (EAGAIN) guesses nothing
        assert!(s.enter(1, RX, 0, [0; 6], t));
        assert!(!s.enter(3, RX, 0, [0; 6], t));
        assert_eq!(s.overdue(t + WAIT_LIMIT, |_| true).len(), 1);
        assert_eq!(s.done(3, false), None);
        assert_eq!(s.guessed(), 1);
    }

    #[test]
    fn a_waiter_behind_a_call_that_is_not_blocked_waits_on() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, RX, 0, [0; 6], t));
        assert!(!s.enter(2, RX, 0, [0; 6], t));
        // the holder's exit stop is waiting for bop: no guess, another limit to wait
        assert!(s.overdue(t + WAIT_LIMIT, |_| false).is_empty());
        assert_eq!(s.deadline(), Some(t + WAIT_LIMIT + WAIT_LIMIT));
        assert_eq!(s.guessed(), 0);
        assert_eq!(s.done(1, true).map(|w| w.tid), Some(2));
    }

    #[test]
    fn a_holder_that_dies_hands_the_channel_on_and_a_waiter_that_dies_is_forgotten() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, RX, 0, [0; 6], t));
        assert!(!s.enter(2, RX, 0, [0; 6], t));
        assert!(!s.enter(3, RX, 0, [0; 6], t));
        assert_eq!(s.gone(2), None);
        assert_eq!(s.gone(1).map(|w| w.tid), Some(3));
        assert_eq!(s.done(3, true), None);
        assert_eq!(s.deadline(), None);
    }
}
