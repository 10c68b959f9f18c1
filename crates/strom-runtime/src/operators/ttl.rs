//! State time-to-live (Flink's `table.exec.state.ttl` and `STATE_TTL` hint): the state of a key
//! not written for `ttl` of processing time is dropped, as Flink's `StateTtlConfig` with
//! `OnCreateAndWrite` and `NeverReturnExpired` does. Operators stamp each entry with the
//! processing time of its last write, never read an expired entry (a row for an expired key
//! starts it afresh) and sweep the expired entries out every quarter of the TTL, so the state
//! holds at most about 1.25 TTLs of keys.
//!
//! Processing time comes from a [`Clock`]: the system's, or a manual one in tests.

use hashbrown::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where an operator reads processing time (ms since the epoch).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock a test moves by hand.
    pub fn manual(now: Arc<AtomicI64>) -> Self {
        Self(Some(now))
    }

    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

/// An operator's state TTL and when it sweeps next.
#[derive(Debug, Clone)]
pub struct Ttl {
    ttl_ms: i64,
    next_sweep: i64,
    pub clock: Clock,
}

impl Ttl {
    /// `None` for a TTL of 0 (state kept for good).
    pub fn new(ttl_ms: u64) -> Option<Self> {
        (ttl_ms > 0).then(|| Self {
            ttl_ms: ttl_ms.min(i64::MAX as u64) as i64,
            next_sweep: i64::MIN,
            clock: Clock::default(),
        })
    }

    /// Whether an entry last written at `written` is still alive at `now`.
    pub fn live(&self, written: i64, now: i64) -> bool {
        now.saturating_sub(written) < self.ttl_ms
    }

    /// Whether the expired entries are due to be swept out at `now` (every quarter TTL).
    pub fn sweep_due(&mut self, now: i64) -> bool {
        if now < self.next_sweep {
            return false;
        }
        self.next_sweep = now.saturating_add((self.ttl_ms / 4).max(1));
        true
    }
}

/// Whether an entry written at `written` is alive at `now` under `ttl` (always without one).
pub fn live(ttl: Option<&Ttl>, written: i64, now: i64) -> bool {
    ttl.is_none_or(|t| t.live(written, now))
}

/// A key's bytes, inline up to 24 bytes (most partition keys: no allocation and no second
/// cache miss to compare them).
type Key = smallvec::SmallVec<[u8; 24]>;

/// Values by key (partitions of a ranking), each stamped with the processing time of its last
/// write, under a time-to-live (0: none). Sans-IO: the operator sets the time of the rows it
/// applies next ([`ExpiringMap::set_now`]); an expired value reads as absent and is written
/// afresh.
#[derive(Debug)]
pub struct ExpiringMap<V> {
    map: HashMap<Key, (V, i64)>,
    ttl_ms: i64,
    now: i64,
}

impl<V> ExpiringMap<V> {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            map: HashMap::new(),
            ttl_ms: ttl_ms.min(i64::MAX as u64) as i64,
            now: 0,
        }
    }

    /// The processing time of what is applied next; drops the expired values a quarter TTL
    /// after the last sweep.
    pub fn set_now(&mut self, now: i64, sweep: bool) {
        self.now = now;
        if sweep && self.ttl_ms > 0 {
            let ttl = self.ttl_ms;
            self.map.retain(|_, (_, w)| now.saturating_sub(*w) < ttl);
        }
    }

    fn live(&self, written: i64) -> bool {
        written_live(self.now, self.ttl_ms, written)
    }

    /// The live value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map
            .get(key)
            .filter(|(_, w)| self.live(*w))
            .map(|(v, _)| v)
    }

    /// The live value of `key`, to write (stamped now).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let now = self.now;
        let live = self.map.get(key).is_some_and(|(_, w)| self.live(*w));
        if !live {
            return None;
        }
        self.map.get_mut(key).map(|(v, w)| {
            *w = now;
            v
        })
    }

    /// The value of `key` to write (stamped now): the live one, else a new one (`make`).
    pub fn entry_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        let (now, ttl) = (self.now, self.ttl_ms);
        match self.map.entry_ref(key) {
            hashbrown::hash_map::EntryRef::Occupied(o) => {
                let (v, w) = o.into_mut();
                if !written_live(now, ttl, *w) {
                    *v = make();
                }
                *w = now;
                v
            }
            hashbrown::hash_map::EntryRef::Vacant(slot) => &mut slot.insert((make(), now)).0,
        }
    }

    /// One lookup of `key`: `decide` sees its live value (None when there is none) and returns
    /// the value to write in its place (stamped now), if any, and what the caller gets back.
    pub fn update<T>(
        &mut self,
        key: &[u8],
        decide: impl FnOnce(Option<&V>) -> (Option<V>, T),
    ) -> T {
        let (now, ttl) = (self.now, self.ttl_ms);
        match self.map.entry_ref(key) {
            hashbrown::hash_map::EntryRef::Occupied(mut o) => {
                let (v, w) = o.get_mut();
                let live = written_live(now, ttl, *w);
                let (write, out) = decide(live.then_some(&*v));
                if let Some(new) = write {
                    *v = new;
                    *w = now;
                }
                out
            }
            hashbrown::hash_map::EntryRef::Vacant(slot) => {
                let (write, out) = decide(None);
                if let Some(new) = write {
                    slot.insert((new, now));
                }
                out
            }
        }
    }

    /// Values held, the expired ones not yet swept out included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.map.remove(key);
    }

    /// Every live value.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every live value, to write in place (not stamped).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        let (now, ttl) = (self.now, self.ttl_ms);
        self.map
            .values_mut()
            .filter(move |(_, w)| written_live(now, ttl, *w))
            .map(|(v, _)| v)
    }

    /// Every live key and value.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.map
            .iter()
            .filter(|(_, (_, w))| self.live(*w))
            .map(|(k, (v, _))| (k.as_slice(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.values().next().is_none()
    }
}

/// Whether a value written at `written` is live at `now` under a TTL of `ttl_ms` (0: none).
fn written_live(now: i64, ttl_ms: i64, written: i64) -> bool {
    ttl_ms == 0 || now.saturating_sub(written) < ttl_ms
}

impl<V: Default> ExpiringMap<V> {
    /// The value of `key` to write (stamped now): the live one, else a default one.
    pub fn entry(&mut self, key: &[u8]) -> &mut V {
        self.entry_with(key, V::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_sweeps() {
        let mut t = Ttl::new(1000).unwrap();
        assert!(t.live(0, 999));
        assert!(!t.live(0, 1000));
        assert!(t.sweep_due(0));
        assert!(!t.sweep_due(249));
        assert!(t.sweep_due(250));
        assert!(Ttl::new(0).is_none());
        assert!(live(None, i64::MIN, i64::MAX));
    }

    #[test]
    fn an_expired_value_reads_as_absent_and_starts_afresh() {
        let mut m: ExpiringMap<Vec<i32>> = ExpiringMap::new(10);
        m.set_now(0, false);
        m.entry(b"a").push(1);
        m.set_now(9, false);
        assert_eq!(m.get(b"a"), Some(&vec![1]));
        m.get_mut(b"a").unwrap().push(2);
        m.set_now(18, false);
        assert_eq!(m.get(b"a"), Some(&vec![1, 2]));
        m.set_now(19, false);
        assert_eq!(m.get(b"a"), None);
        assert!(m.get_mut(b"a").is_none());
        assert!(m.is_empty());
        m.entry(b"a").push(3);
        assert_eq!(m.get(b"a"), Some(&vec![3]));
        m.set_now(40, true);
        assert!(m.map.is_empty());
    }
}
