//! Connection slots: a global and a per-IP cap on open connections, and what each
//! connection is doing, so the serving loop can close idle ones and make room under
//! load by closing the one that has waited longest for a complete request (a slowloris
//! connection, typically) rather than refusing a newcomer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Connections being closed for room count beside the caps, but only this many at once.
pub const MAX_EVICTING: usize = 16;

/// Whom a cap applies to: an IPv4 address, or an IPv6 /64 (one host's usual share).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpKey(u128);

impl IpKey {
    pub fn of(ip: IpAddr) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey(u128::from(u32::from(v4))),
                // Tagged above the IPv4 range so the two never collide.
                None => IpKey((u128::from(v6) & !0u128 << 64) | 1),
            },
        }
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    PerIp,
    Total,
}

/// What one connection is doing; updated by its IO and its requests.
pub struct Conn {
    epoch: Instant,
    last_io_ms: AtomicU64,
    /// Handlers running (a long poll is one).
    handling: AtomicUsize,
    /// Requests from handler start until their answer is written.
    requests: AtomicUsize,
    /// Since when it has waited for a request's headers; `u64::MAX` while it has one.
    waiting_since_ms: AtomicU64,
    evicted: AtomicBool,
    evict: Notify,
}

impl Conn {
    fn new(epoch: Instant, now: Instant) -> Conn {
        let ms = millis(epoch, now);
        Conn {
            epoch,
            last_io_ms: AtomicU64::new(ms),
            handling: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            waiting_since_ms: AtomicU64::new(ms),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch, Instant::now())
    }

    /// Bytes moved in either direction.
    pub fn touch(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long nothing has moved while no handler runs (zero while one does).
    pub fn idle_for(&self, now: Instant) -> Duration {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = self.last_io_ms.load(Ordering::Relaxed);
        Duration::from_millis(millis(self.epoch, now).saturating_sub(last))
    }

    /// A request reached its handler: guards for the handler and for the whole request
    /// (drop the latter once the answer is written).
    pub fn begin(self: &Arc<Self>) -> (Handling, Request) {
        self.handling.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.waiting_since_ms.store(u64::MAX, Ordering::Relaxed);
        (Handling(Arc::clone(self)), Request(Arc::clone(self)))
    }

    /// Resolves when the slots want this connection closed to make room.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }

    fn waiting_since(&self) -> Option<u64> {
        match self.waiting_since_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(ms),
        }
    }
}

pub struct Handling(Arc<Conn>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

pub struct Request(Arc<Conn>);

impl Drop for Request {
    fn drop(&mut self) {
        if self.0.requests.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0
                .waiting_since_ms
                .store(self.0.now_ms(), Ordering::Relaxed);
        }
    }
}

fn millis(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_millis() as u64
}

struct Entry {
    ip: IpKey,
    conn: Arc<Conn>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    conns: HashMap<u64, Entry>,
    /// Connections that count against the caps (not being evicted), per IP and in total.
    per_ip: HashMap<IpKey, usize>,
    live: usize,
    evicting: usize,
}

pub struct Slots {
    inner: Mutex<Inner>,
    max_total: usize,
    max_per_ip: usize,
    /// A connection younger than this is not closed for room: an honest client needs a
    /// moment to send its headers.
    min_wait: Duration,
    epoch: Instant,
    empty: Notify,
}

/// An admitted connection's place; frees it when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub conn: Arc<Conn>,
}

impl Slots {
    pub fn new(max_total: usize, max_per_ip: usize, min_wait: Duration) -> Arc<Slots> {
        Arc::new(Slots {
            inner: Mutex::new(Inner::default()),
            max_total: max_total.max(1),
            max_per_ip: max_per_ip.max(1),
            min_wait,
            epoch: Instant::now(),
            empty: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a connection from `ip`, closing a waiting one to make room if a cap is
    /// reached, or says which cap refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Slot, Refused> {
        let key = IpKey::of(ip);
        let mut g = self.lock();
        let ip_full = g.per_ip.get(&key).copied().unwrap_or(0) >= self.max_per_ip;
        let total_full = g.live >= self.max_total;
        if ip_full || total_full {
            let refused = if ip_full {
                Refused::PerIp
            } else {
                Refused::Total
            };
            if g.evicting >= MAX_EVICTING {
                return Err(refused);
            }
            let (now_ms, grace) = (millis(self.epoch, now), self.min_wait.as_millis() as u64);
            let victim = g
                .conns
                .iter()
                .filter(|(_, e)| !ip_full || e.ip == key)
                .filter(|(_, e)| !e.conn.evicted.load(Ordering::Relaxed))
                .filter_map(|(id, e)| Some((e.conn.waiting_since()?, *id)))
                .filter(|(since, _)| since.saturating_add(grace) <= now_ms)
                .min()
                .map(|(_, id)| id);
            let Some(victim) = victim else {
                return Err(refused);
            };
            let e = &g.conns[&victim];
            let (vip, conn) = (e.ip, Arc::clone(&e.conn));
            conn.evicted.store(true, Ordering::Relaxed);
            conn.evict.notify_one();
            uncount(&mut g, vip);
            g.evicting += 1;
        }
        let id = g.next;
        g.next += 1;
        let conn = Arc::new(Conn::new(self.epoch, now));
        g.conns.insert(
            id,
            Entry {
                ip: key,
                conn: Arc::clone(&conn),
            },
        );
        *g.per_ip.entry(key).or_insert(0) += 1;
        g.live += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            id,
            conn,
        })
    }

    /// Open connections, those being closed for room included.
    pub fn open(&self) -> usize {
        self.lock().conns.len()
    }

    /// Resolves once no connection is open.
    pub async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

fn uncount(g: &mut Inner, ip: IpKey) {
    if let Some(n) = g.per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            g.per_ip.remove(&ip);
        }
    }
    g.live -= 1;
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self.slots.lock();
        if let Some(e) = g.conns.remove(&self.id) {
            if e.conn.evicted.load(Ordering::Relaxed) {
                g.evicting -= 1;
            } else {
                uncount(&mut g, e.ip);
            }
        }
        if g.conns.is_empty() {
            self.slots.empty.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(
            IpKey::of(ip("2001:db8:1:2::1")),
            IpKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            IpKey::of(ip("2001:db8:1:2::1")),
            IpKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(IpKey::of(ip("::ffff:10.0.0.1")), IpKey::of(ip("10.0.0.1")));
        assert_ne!(IpKey::of(ip("::")), IpKey::of(ip("0.0.0.0")));
    }

    #[test]
    fn a_full_address_closes_its_longest_waiting_connection() {
        let s = Slots::new(100, 2, Duration::from_secs(1));
        let t0 = Instant::now();
        let a = s.admit(ip("10.0.0.1"), t0).expect("first");
        let b = s
            .admit(ip("10.0.0.1"), t0 + Duration::from_secs(1))
            .expect("second");
        // The third evicts the oldest waiting connection of that address.
        let c = s
            .admit(ip("10.0.0.1"), t0 + Duration::from_secs(3))
            .expect("third");
        assert!(a.conn.evicted.load(Ordering::Relaxed));
        assert!(!b.conn.evicted.load(Ordering::Relaxed));
        assert_eq!(s.open(), 3);
        drop(a);
        assert_eq!(s.open(), 2);
        // Connections busy with a request are never closed for room: refused.
        let _hb = b.conn.begin();
        let _hc = c.conn.begin();
        assert_eq!(
            s.admit(ip("10.0.0.1"), t0 + Duration::from_secs(9)).err(),
            Some(Refused::PerIp)
        );
        // Another address is unaffected.
        assert!(s.admit(ip("10.0.0.2"), t0).is_ok());
    }

    #[test]
    fn a_full_server_closes_the_longest_waiting_anywhere_but_not_newcomers() {
        let s = Slots::new(2, 10, Duration::from_secs(1));
        let t0 = Instant::now();
        let a = s.admit(ip("10.0.0.1"), t0).expect("a");
        let b = s.admit(ip("10.0.0.2"), t0).expect("b");
        // Both are younger than the grace: the newcomer is refused.
        assert_eq!(
            s.admit(ip("10.0.0.3"), t0 + Duration::from_millis(500))
                .err(),
            Some(Refused::Total)
        );
        let (h, req) = a.conn.begin();
        let c = s
            .admit(ip("10.0.0.3"), t0 + Duration::from_secs(2))
            .expect("c");
        assert!(
            b.conn.evicted.load(Ordering::Relaxed),
            "b waited, a was busy"
        );
        drop(b);
        // Once a's answer is written it waits again, from then on.
        drop(req);
        drop(h);
        assert!(a.conn.waiting_since().is_some());
        assert_eq!(s.open(), 2);
        drop((a, c));
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn idle_time_stops_while_a_handler_runs() {
        let s = Slots::new(2, 2, Duration::ZERO);
        let t0 = Instant::now();
        let a = s.admit(ip("10.0.0.1"), t0).expect("a");
        assert!(a.conn.idle_for(t0 + Duration::from_secs(5)) >= Duration::from_secs(4));
        let (h, _r) = a.conn.begin();
        assert_eq!(
            a.conn.idle_for(t0 + Duration::from_secs(50)),
            Duration::ZERO
        );
        drop(h);
        assert!(a.conn.idle_for(Instant::now()) < Duration::from_secs(1));
    }

    #[test]
    fn evictions_in_flight_are_bounded() {
        let s = Slots::new(MAX_EVICTING, 1000, Duration::ZERO);
        let t0 = Instant::now();
        let mut held: Vec<Slot> = (0..MAX_EVICTING)
            .map(|_| s.admit(ip("10.0.0.1"), t0).expect("fill"))
            .collect();
        for _ in 0..MAX_EVICTING {
            held.push(
                s.admit(ip("10.0.0.2"), t0 + Duration::from_secs(1))
                    .expect("evicts"),
            );
        }
        // Every original is being closed and none has gone yet: no more room.
        assert_eq!(
            s.admit(ip("10.0.0.3"), t0 + Duration::from_secs(2)).err(),
            Some(Refused::Total)
        );
    }
}
