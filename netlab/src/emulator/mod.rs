//! The link emulator: holds every packet of a delayed link for that link's one-way delay.
//!
//! This kernel has no `netem`, so delay is added in user space. Every host with delayed links
//! has a TUN device (`tun0`); routes send packets for its delayed peers into it. One thread
//! reads every TUN device, looks up the packet's (source, destination) pair, and releases the
//! packet into the destination host's TUN device when the link's delay has passed:
//!
//! - one thread for the whole lab, woken by `epoll` (the TUN devices, a `timerfd` set to the
//!   next release with nanosecond resolution, and an `eventfd` for stop), so there is no thread
//!   or task per packet and no millisecond timer rounding;
//! - one deadline-ordered queue ([`queue::DelayQueue`]) over all links, buffers recycled;
//! - packets on one link and direction keep their order: with jitter, a packet's release time
//!   is never earlier than the previous one's (jitter delays, it does not reorder — reordering
//!   would make TCP retransmit and measure the emulator rather than the link);
//! - a delay change (runtime or timed step) applies to packets that arrive after it; packets
//!   already in flight keep their release time, and a shorter delay never overtakes them.

pub mod packet;
pub mod queue;

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hdrhistogram::Histogram;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tun_rs::SyncDevice;

use crate::addr::LabPrefix;
use crate::clock::{mono_ns, ns};
use crate::error::Error;
use crate::topology::{Delay, Step};
use queue::{BUF_LEN, DelayQueue};

/// Most packets in flight at once across all links. 2,000 packets/s held for 300 ms is 600; a
/// full queue drops new packets (as a router would) rather than growing without bound.
pub const MAX_IN_FLIGHT: usize = 65_536;

/// Packets read from one TUN device per wakeup before the others get a turn.
const READ_BATCH: usize = 64;

const TOKEN_TIMER: u64 = u64::MAX;
const TOKEN_WAKE: u64 = u64::MAX - 1;
const NO_LINK: u32 = u32::MAX;

/// One delayed link to emulate: a (client, node) pair of host indices, both directions.
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// Host index of one end (the client).
    pub a: usize,
    /// Host index of the other end (the node).
    pub b: usize,
    /// The delay when the emulator starts.
    pub initial: Delay,
    /// Timed changes, relative to the emulator's start.
    pub steps: Vec<Step>,
}

/// What the emulator needs to start.
pub struct EmulatorPlan {
    /// The lab's /48: packets are matched to hosts by address.
    pub prefix: LabPrefix,
    /// Number of hosts (the address index range).
    pub hosts: usize,
    /// Each delayed host's TUN device, by host index.
    pub devices: Vec<(usize, SyncDevice)>,
    /// The links.
    pub links: Vec<LinkPlan>,
    /// Seed for the jitter.
    pub seed: Option<u64>,
}

/// Counters of the emulator's work, read while it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EmulatorStats {
    /// Packets delivered after their delay.
    pub forwarded: u64,
    /// Packets that matched no link (e.g. a host's own multicast on `tun0`), dropped.
    pub unrouted: u64,
    /// Packets dropped because [`MAX_IN_FLIGHT`] were already in flight.
    pub overflow: u64,
    /// Packets whose delivery into the destination's TUN device failed.
    pub write_errors: u64,
    /// Packets in flight now.
    pub in_flight: u64,
}

#[derive(Default)]
struct LinkDelay {
    delay_ns: AtomicU64,
    jitter_ns: AtomicU64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    unrouted: AtomicU64,
    overflow: AtomicU64,
    write_errors: AtomicU64,
    in_flight: AtomicU64,
}

struct Shared {
    links: Vec<LinkDelay>,
    /// How late packets left relative to their deadline (ns): the emulator's own error.
    lateness: Mutex<Histogram<u64>>,
    counters: Counters,
    stop: AtomicBool,
    wake: EventFd,
    tid: AtomicI32,
    started_ns: u64,
}

/// The running emulator of one lab. Dropping it stops the thread and closes the TUN devices.
pub struct Emulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

// === impl Emulator ===

impl Emulator {
    /// Starts the emulator thread.
    pub fn start(plan: EmulatorPlan) -> Result<Emulator, Error> {
        let sys = |what: &str, e: Errno| Error::io(format!("emulator: {what}"), io::Error::from(e));
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| sys("epoll", e))?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(|e| sys("timerfd", e))?;
        let wake = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| sys("eventfd", e))?;
        epoll
            .add(
                timer.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_TIMER),
            )
            .map_err(|e| sys("watch timerfd", e))?;
        epoll
            .add(
                wake.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_WAKE),
            )
            .map_err(|e| sys("watch eventfd", e))?;

        let mut devices: Vec<Option<SyncDevice>> = (0..plan.hosts).map(|_| None).collect();
        for (host, dev) in plan.devices {
            dev.set_nonblocking(true)
                .map_err(|e| Error::io("emulator: non-blocking TUN", e))?;
            epoll
                .add(
                    dev.as_fd(),
                    EpollEvent::new(EpollFlags::EPOLLIN, host as u64),
                )
                .map_err(|e| sys("watch a TUN device", e))?;
            devices[host] = Some(dev);
        }

        let mut matrix = vec![NO_LINK; plan.hosts * plan.hosts];
        let mut links = Vec::with_capacity(plan.links.len());
        let mut steps = Vec::new();
        for (i, l) in plan.links.iter().enumerate() {
            matrix[l.a * plan.hosts + l.b] = i as u32;
            matrix[l.b * plan.hosts + l.a] = i as u32;
            let d = LinkDelay::default();
            d.delay_ns.store(ns(l.initial.delay), Ordering::Relaxed);
            d.jitter_ns.store(ns(l.initial.jitter), Ordering::Relaxed);
            links.push(d);
            steps.extend(l.steps.iter().map(|s| (ns(s.after), i, s.to)));
        }
        steps.sort_by_key(|(at, _, _)| *at);

        let started_ns = mono_ns();
        let shared = Arc::new(Shared {
            links,
            lateness: Mutex::new(new_lateness()),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            wake,
            tid: AtomicI32::new(0),
            started_ns,
        });
        let rng = match plan.seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::from_os_rng(),
        };
        let mut worker = Worker {
            shared: shared.clone(),
            epoll,
            timer,
            armed: None,
            devices,
            hosts: plan.hosts,
            prefix: plan.prefix,
            matrix,
            link_a: plan.links.iter().map(|l| l.a).collect(),
            last_deadline: vec![0; plan.links.len() * 2],
            steps: steps
                .into_iter()
                .map(|(at, link, to)| (started_ns + at, link, to))
                .collect(),
            next_step: 0,
            queue: DelayQueue::new(MAX_IN_FLIGHT),
            scratch: Box::new([0; BUF_LEN]),
            rng,
        };
        let (tid_tx, tid_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("netlab-emulator".into())
            .spawn(move || {
                let _ = tid_tx.send(nix::unistd::gettid().as_raw());
                worker.run()
            })
            .map_err(|e| Error::io("emulator: spawn thread", e))?;
        let tid = tid_rx
            .recv()
            .map_err(|_| Error::io("emulator: start thread", io::Error::other("it died")))?;
        shared.tid.store(tid, Ordering::Relaxed);
        Ok(Emulator {
            shared,
            thread: Some(thread),
        })
    }

    /// Sets a link's delay from now on (packets in flight keep theirs).
    pub fn set_delay(&self, link: usize, to: Delay) {
        let l = &self.shared.links[link];
        l.delay_ns.store(ns(to.delay), Ordering::Relaxed);
        l.jitter_ns.store(ns(to.jitter), Ordering::Relaxed);
    }

    /// A link's current delay.
    pub fn delay(&self, link: usize) -> Delay {
        let l = &self.shared.links[link];
        Delay {
            delay: Duration::from_nanos(l.delay_ns.load(Ordering::Relaxed)),
            jitter: Duration::from_nanos(l.jitter_ns.load(Ordering::Relaxed)),
        }
    }

    /// The emulator's counters.
    pub fn stats(&self) -> EmulatorStats {
        let c = &self.shared.counters;
        EmulatorStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            unrouted: c.unrouted.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            in_flight: c.in_flight.load(Ordering::Relaxed),
        }
    }

    /// How late packets were released relative to their deadlines, in nanoseconds, since the
    /// last call (or the start); the histogram restarts empty.
    pub fn take_lateness(&self) -> Histogram<u64> {
        std::mem::replace(
            &mut *self.shared.lateness.lock().expect("lateness"),
            new_lateness(),
        )
    }

    /// The emulator thread's id (for its CPU time in `/proc/self/task/TID/stat`), once running.
    pub fn thread_id(&self) -> Option<i32> {
        match self.shared.tid.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// `CLOCK_MONOTONIC` nanoseconds when the emulator started (steps count from here).
    pub fn started_ns(&self) -> u64 {
        self.shared.started_ns
    }

    /// Stops the thread and closes the TUN devices (packets in flight are dropped).
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            let _ = self.shared.wake.write(1);
            if t.join().is_err() {
                tracing::error!("the emulator thread panicked");
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// When a packet that arrived at `now` leaves: after `delay` shifted by the jitter (`sample`
/// is uniform in `0..=2 × jitter`, so the shift is uniform in `±jitter`), but never before the
/// previous packet of its link and direction (`last`), so a link never reorders.
fn release_time(now: u64, delay: u64, jitter: u64, sample: u64, last: u64) -> u64 {
    (now + delay + sample).saturating_sub(jitter).max(last)
}

fn new_lateness() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 2).expect("valid histogram bounds")
}

// === the thread ===

struct Worker {
    shared: Arc<Shared>,
    epoll: Epoll,
    timer: TimerFd,
    armed: Option<u64>,
    devices: Vec<Option<SyncDevice>>,
    hosts: usize,
    prefix: LabPrefix,
    /// Link index by (source host × hosts + destination host).
    matrix: Vec<u32>,
    /// The first end (`a`) of every link, to tell the two directions apart.
    link_a: Vec<usize>,
    /// Release time of the last packet per link and direction (order keeping).
    last_deadline: Vec<u64>,
    /// Timed steps in time order: (absolute time, link, delay).
    steps: Vec<(u64, usize, Delay)>,
    next_step: usize,
    queue: DelayQueue,
    scratch: Box<[u8; BUF_LEN]>,
    rng: SmallRng,
}

impl Worker {
    fn run(&mut self) {
        // Timer slack would let the kernel fire our timer up to 50 µs late to batch wakeups.
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::debug!(error = %e, "emulator: cannot lower timer slack");
        }
        let mut events = [EpollEvent::empty(); 64];
        loop {
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "emulator: epoll failed; links are down");
                    return;
                }
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
            self.apply_steps(mono_ns());
            self.release(mono_ns());
            for ev in &events[..n] {
                match ev.data() {
                    TOKEN_TIMER => {
                        // Non-blocking read of the expiry count; EAGAIN means nothing to clear.
                        let _ = self.timer.wait();
                        self.armed = None;
                    }
                    TOKEN_WAKE => {
                        let _ = self.shared.wake.read();
                    }
                    host => self.read_from(host as usize),
                }
            }
            // Zero-delay links release at once.
            self.release(mono_ns());
            self.shared
                .counters
                .in_flight
                .store(self.queue.len() as u64, Ordering::Relaxed);
            self.arm();
        }
    }

    fn apply_steps(&mut self, now: u64) {
        while let Some(&(at, link, to)) = self.steps.get(self.next_step) {
            if at > now {
                break;
            }
            let l = &self.shared.links[link];
            l.delay_ns.store(ns(to.delay), Ordering::Relaxed);
            l.jitter_ns.store(ns(to.jitter), Ordering::Relaxed);
            tracing::info!(link, delay = ?to.delay, jitter = ?to.jitter, "emulator: timed step applied");
            self.next_step += 1;
        }
    }

    /// Reads what host `src`'s TUN device holds and queues each packet on its link.
    fn read_from(&mut self, src: usize) {
        let shared = self.shared.clone();
        let c = &shared.counters;
        for _ in 0..READ_BATCH {
            let Some(dev) = self.devices[src].as_ref() else {
                return;
            };
            let Some(buf) = self.queue.take_buffer() else {
                // Full: drain the device anyway (level-triggered epoll would spin otherwise).
                match dev.recv(&mut self.scratch[..]) {
                    Ok(_) => {
                        c.overflow.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Err(_) => return,
                }
            };
            let len = match dev.recv(&mut self.queue.buffer_mut(buf)[..]) {
                Ok(len) => len,
                Err(e) => {
                    self.queue.recycle(buf);
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted
                    {
                        tracing::warn!(error = %e, host = src, "emulator: TUN read failed");
                    }
                    return;
                }
            };
            let now = mono_ns();
            // The header is all `route` reads; a copy keeps the queue free to borrow.
            let mut header = [0u8; packet::IPV6_HEADER];
            let n = len.min(packet::IPV6_HEADER);
            header[..n].copy_from_slice(&self.queue.buffer_mut(buf)[..n]);
            match self.route(src, &header[..n]) {
                Some((link, dst)) => {
                    let deadline = self.deadline(link, src, now);
                    self.queue.push(buf, len, deadline, dst as u32);
                }
                None => {
                    c.unrouted.fetch_add(1, Ordering::Relaxed);
                    self.queue.recycle(buf);
                }
            }
        }
    }

    /// The link and destination host of a packet read from host `src`'s TUN device.
    fn route(&self, src: usize, packet: &[u8]) -> Option<(usize, usize)> {
        let (s, d) = packet::ipv6_endpoints(packet)?;
        let (s, d) = (self.prefix.index_of(s)?, self.prefix.index_of(d)?);
        // A packet must come from the host whose device it left: nothing else may use a link.
        if s != src || d >= self.hosts {
            return None;
        }
        match self.matrix[s * self.hosts + d] {
            NO_LINK => None,
            link => Some((link as usize, d)),
        }
    }

    fn deadline(&mut self, link: usize, src: usize, now: u64) -> u64 {
        let l = &self.shared.links[link];
        let delay = l.delay_ns.load(Ordering::Relaxed);
        let jitter = l.jitter_ns.load(Ordering::Relaxed);
        let sample = if jitter == 0 {
            0
        } else {
            self.rng.random_range(0..=2 * jitter)
        };
        let dir = usize::from(self.link_a[link] == src);
        let last = &mut self.last_deadline[link * 2 + dir];
        *last = release_time(now, delay, jitter, sample, *last);
        *last
    }

    fn release(&mut self, now: u64) {
        if self.queue.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        let shared = self.shared.clone();
        let c = &shared.counters;
        let mut lateness = shared.lateness.lock().expect("lateness");
        while let Some(due) = self.queue.pop_due(now) {
            lateness.saturating_record(mono_ns().saturating_sub(due.deadline).max(1));
            let sent = match self.devices[due.dst as usize].as_ref() {
                Some(dev) => dev.send(self.queue.packet(due.buf)).is_ok(),
                None => false,
            };
            if sent {
                c.forwarded.fetch_add(1, Ordering::Relaxed);
            } else {
                c.write_errors.fetch_add(1, Ordering::Relaxed);
            }
            self.queue.recycle(due.buf);
        }
    }

    /// Sets the timer to the next release or step, whichever is first.
    fn arm(&mut self) {
        let next_step = self.steps.get(self.next_step).map(|s| s.0);
        let next = match (self.queue.next_deadline(), next_step) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next == self.armed {
            return;
        }
        let result = match next {
            Some(at) => self.timer.set(
                Expiration::OneShot(TimeSpec::from(Duration::from_nanos(at))),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            ),
            None => self.timer.unset(),
        };
        match result {
            Ok(()) => self.armed = next,
            Err(e) => tracing::error!(error = %e, "emulator: cannot set its timer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_is_the_delay_shifted_by_jitter() {
        assert_eq!(release_time(1_000, 500, 0, 0, 0), 1_500);
        assert_eq!(release_time(1_000, 500, 100, 0, 0), 1_400);
        assert_eq!(release_time(1_000, 500, 100, 200, 0), 1_600);
    }

    #[test]
    fn jitter_never_reorders_a_link() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (delay, jitter) = (10_000_000, 5_000_000);
        let mut last = 0;
        for i in 0..10_000u64 {
            let now = i * 100_000; // 10,000 packets/s
            let t = release_time(now, delay, jitter, rng.random_range(0..=2 * jitter), last);
            assert!(t >= last, "packet {i} would overtake its predecessor");
            assert!(t >= now + delay - jitter);
            last = t;
        }
    }

    #[test]
    fn a_shorter_delay_does_not_overtake_packets_in_flight() {
        let before = release_time(0, 100, 0, 0, 0);
        assert_eq!(release_time(10, 5, 0, 0, before), before);
        assert_eq!(release_time(200, 5, 0, 0, before), 205);
    }
}
