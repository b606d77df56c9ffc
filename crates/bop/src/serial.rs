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

/// The channels one call moves bytes through: at most two (a splice reads one and writes
/// another).
pub type Channels = [Option<Channel>; 2];

/// Which thread's call is under way on each channel, and who waits behind it.
#[derive(Debug, Default)]
pub struct Serial {
    busy: HashMap<Channel, i32>,
    holding: HashMap<i32, Channels>,
    waiting: HashMap<Channel, VecDeque<Waiter>>,
    /// threads let go by the limit whose call has not returned yet
    let_go: HashSet<i32>,
    /// threads whose channel was freed, to enter again ([`Serial::take_ready`])
    ready: Vec<Waiter>,
    guessed: u64,
}

impl Serial {
    /// Nothing under way.
    pub fn new() -> Serial {
        Serial::default()
    }

    /// Thread `tid` is at the entry of a call on `channels`. `true`: it goes on (and holds
    /// them until [`Serial::done`]); `false`: one is held by another thread's call, and it
    /// waits, stopped, until [`Serial::done`] or [`Serial::overdue`] hands it back (then it
    /// enters again).
    pub fn enter(
        &mut self,
        tid: i32,
        channels: Channels,
        nr: i64,
        args: [u64; 6],
        now: impl FnOnce() -> Instant,
    ) -> bool {
        for &channel in channels.iter().flatten() {
            if self.busy.get(&channel).is_some_and(|&h| h != tid) {
                self.waiting.entry(channel).or_default().push_back(Waiter {
                    tid,
                    nr,
                    args,
                    since: now(),
                    channel,
                });
                return false;
            }
        }
        for &channel in channels.iter().flatten() {
            self.busy.insert(channel, tid);
        }
        self.holding.insert(tid, channels);
        true
    }

    /// Thread `tid`'s call is over (its exit stop was seen, or the thread is gone), and
    /// `moved` says whether it moved bytes. The first thread waiting for each channel it held
    /// is made ready to enter again ([`Serial::take_ready`]). A call let go by the limit that
    /// moved bytes is a guess; one that moved none (EAGAIN, an error) has no place in the
    /// stream to get wrong.
    pub fn done(&mut self, tid: i32, moved: bool) {
        if !self.let_go.is_empty() && self.let_go.remove(&tid) && moved {
            self.guessed += 1;
        }
        let Some(channels) = self.holding.remove(&tid) else {
            return;
        };
        for channel in channels.into_iter().flatten() {
            if self.busy.get(&channel) != Some(&tid) {
                continue;
            }
            self.busy.remove(&channel);
            if self.waiting.is_empty() {
                continue;
            }
            if let Some(q) = self.waiting.get_mut(&channel) {
                self.ready.extend(q.pop_front());
                if q.is_empty() {
                    self.waiting.remove(&channel);
                }
            }
        }
    }

    /// A thread [`Serial::done`] or [`Serial::gone`] made ready to enter again.
    pub fn take_ready(&mut self) -> Option<Waiter> {
        self.ready.pop()
    }

    /// Thread `tid` is gone: it holds nothing and waits for nothing any more; the threads
    /// waiting for what it held are made ready to enter again.
    pub fn gone(&mut self, tid: i32) {
        for q in self.waiting.values_mut() {
            q.retain(|w| w.tid != tid);
        }
        self.waiting.retain(|_, q| !q.is_empty());
        self.ready.retain(|w| w.tid != tid);
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

    /// Every waiter, let go at once (the run is stopping); each that moves bytes is a guess.
    pub fn release_all(&mut self) -> Vec<Waiter> {
        let out: Vec<Waiter> = self.waiting.drain().flat_map(|(_, q)| q).collect();
        self.let_go.extend(out.iter().map(|w| w.tid));
        out
    }

    /// Whether any thread waits.
    pub fn has_waiters(&self) -> bool {
        !self.waiting.is_empty()
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
    fn one(c: Channel) -> Channels {
        [Some(c), None]
    }

    /// The threads made ready, in the order they were.
    fn ready(s: &mut Serial) -> Vec<Waiter> {
        let mut out = Vec::new();
        while let Some(w) = s.take_ready() {
            out.push(w);
        }
        out.reverse();
        out
    }

    /// The threads `done` makes ready that get in when they enter again, as the run loop
    /// makes them.
    fn next(s: &mut Serial, tid: i32) -> Vec<i32> {
        let mut out = Vec::new();
        s.done(tid, true);
        for w in ready(s) {
            if s.enter(w.tid, one(w.channel), w.nr, w.args, || w.since) {
                out.push(w.tid);
            }
        }
        out
    }

    #[test]
    fn a_second_call_on_a_channel_waits_for_the_first_and_the_other_direction_does_not() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, one(RX), 0, [0; 6], || t));
        assert!(
            s.enter(2, one(TX), 1, [0; 6], || t),
            "sending does not wait for receiving"
        );
        assert!(!s.enter(3, one(RX), 0, [3; 6], || t));
        assert!(!s.enter(4, one(RX), 0, [4; 6], || t));
        s.done(2, true);
        assert!(ready(&mut s).is_empty());
        assert_eq!(next(&mut s, 1), vec![3]);
        assert!(
            !s.enter(5, one(RX), 0, [0; 6], || t),
            "thread 3 holds it now"
        );
        assert_eq!(next(&mut s, 3), vec![4]);
        assert_eq!(next(&mut s, 4), vec![5]);
        assert_eq!(next(&mut s, 5), Vec::<i32>::new());
        assert!(s.enter(6, one(RX), 0, [0; 6], || t));
        assert_eq!(s.guessed(), 0);
    }

    #[test]
    fn a_splice_holds_both_its_channels_and_waits_for_either() {
        let mut s = Serial::new();
        let t = Instant::now();
        let pipe_tx = Channel {
            object: 9,
            send: true,
        };
        assert!(s.enter(1, [Some(RX), Some(pipe_tx)], 0, [0; 6], || t));
        assert!(
            !s.enter(2, one(pipe_tx), 0, [0; 6], || t),
            "the pipe is taken"
        );
        assert!(!s.enter(3, one(RX), 0, [0; 6], || t), "so is the socket");
        s.done(1, true);
        let mut back: Vec<i32> = ready(&mut s).iter().map(|w| w.tid).collect();
        back.sort_unstable();
        assert_eq!(back, vec![2, 3]);
    }

    #[test]
    fn a_waiter_is_let_go_at_the_limit_and_counted_as_a_guess_if_it_moves_bytes() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, one(RX), 0, [0; 6], || t));
        assert!(!s.enter(2, one(RX), 0, [0; 6], || t + Duration::from_millis(10)));
        assert_eq!(
            s.deadline(),
            Some(t + Duration::from_millis(10) + WAIT_LIMIT)
        );
        assert!(s.overdue(t + WAIT_LIMIT, |_| true).is_empty());
        let late = s.overdue(t + Duration::from_millis(10) + WAIT_LIMIT, |h| h == 1);
        assert_eq!(late.iter().map(|w| w.tid).collect::<Vec<_>>(), vec![2]);
        assert_eq!(s.deadline(), None);
        // the let-go thread holds nothing: the holder's end hands the channel to no one
        s.done(2, true);
        assert_eq!(s.guessed(), 1, "it moved bytes: their place is a guess");
        s.done(1, true);
        assert!(ready(&mut s).is_empty());
        // a let-go call that moves nothing (EAGAIN) guesses nothing
        assert!(s.enter(1, one(RX), 0, [0; 6], || t));
        assert!(!s.enter(3, one(RX), 0, [0; 6], || t));
        assert_eq!(s.overdue(t + WAIT_LIMIT, |_| true).len(), 1);
        s.done(3, false);
        assert_eq!(s.guessed(), 1);
        // nor does one let go when the run stops, unless it moves bytes
        assert!(!s.enter(4, one(RX), 0, [0; 6], || t));
        assert_eq!(s.release_all().len(), 1);
        s.done(4, true);
        assert_eq!(s.guessed(), 2);
    }

    #[test]
    fn a_waiter_behind_a_call_that_is_not_blocked_waits_on() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, one(RX), 0, [0; 6], || t));
        assert!(!s.enter(2, one(RX), 0, [0; 6], || t));
        // the holder's exit stop is waiting for bop: no guess, another limit to wait
        assert!(s.overdue(t + WAIT_LIMIT, |_| false).is_empty());
        assert_eq!(s.deadline(), Some(t + WAIT_LIMIT + WAIT_LIMIT));
        assert_eq!(s.guessed(), 0);
        assert_eq!(next(&mut s, 1), vec![2]);
    }

    #[test]
    fn a_holder_that_dies_hands_the_channel_on_and_a_waiter_that_dies_is_forgotten() {
        let mut s = Serial::new();
        let t = Instant::now();
        assert!(s.enter(1, one(RX), 0, [0; 6], || t));
        assert!(!s.enter(2, one(RX), 0, [0; 6], || t));
        assert!(!s.enter(3, one(RX), 0, [0; 6], || t));
        s.gone(2);
        assert!(ready(&mut s).is_empty());
        s.gone(1);
        let back: Vec<i32> = ready(&mut s).iter().map(|w| w.tid).collect();
        assert_eq!(back, vec![3]);
        assert!(s.enter(3, one(RX), 0, [0; 6], || t));
        s.done(3, true);
        assert!(ready(&mut s).is_empty());
        assert_eq!(s.deadline(), None);
    }
}
