//! The whole of path arguments the kernel sent apart from their events (`LongPath`), kept
//! until their event is decoded. A record whose event never comes (the prefilter dropped it at
//! exit) is evicted, oldest first, once `CAPACITY` records wait.

use std::collections::BTreeMap;

use exporter_ebpf::{LongPath, SyscallEvent, MAX_LONG_PATH, MAX_PATH};

/// Records kept waiting for their events.
const CAPACITY: usize = 1024;

/// Long paths by (entry time, thread, slot).
#[derive(Default)]
pub struct LongPaths {
    waiting: BTreeMap<(u64, u32, u32), String>,
}

impl LongPaths {
    pub fn add(&mut self, record: &LongPath) {
        let len = (record.len as usize).clamp(1, MAX_LONG_PATH) - 1;
        let bytes = &record.path[..len];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(len);
        let path = String::from_utf8_lossy(&bytes[..end]).into_owned();
        self.waiting.insert((record.ktime_ns, record.tid, record.slot), path);
        while self.waiting.len() > CAPACITY {
            self.waiting.pop_first();
        }
    }

    /// The whole paths of `raw`'s cut slots, taken out of the store.
    pub fn take(&mut self, raw: &SyscallEvent) -> [Option<String>; 2] {
        let mut whole = [None, None];
        for (slot, path) in whole.iter_mut().enumerate() {
            if raw.path_lens[slot] as usize == MAX_PATH {
                *path = self.waiting.remove(&(raw.ktime_ns, raw.tid, slot as u32));
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ktime_ns: u64, tid: u32, slot: u32, path: &str) -> Box<LongPath> {
        let mut r = Box::new(LongPath { ktime_ns, tid, slot, len: 0, _pad: 0, path: [0; MAX_LONG_PATH] });
        r.path[..path.len()].copy_from_slice(path.as_bytes());
        r.len = path.len() as u32 + 1;
        r
    }

    fn event(ktime_ns: u64, tid: u32, lens: [i32; 2]) -> SyscallEvent {
        // SAFETY: plain data; all zeroes is a valid event.
        let mut e: SyscallEvent = unsafe { std::mem::zeroed() };
        (e.ktime_ns, e.tid, e.path_lens) = (ktime_ns, tid, lens);
        e
    }

    #[test]
    fn a_cut_slot_gets_its_whole_path_once() {
        let long = format!("/{}etc/shadow", "./".repeat(150));
        let mut store = LongPaths::default();
        store.add(&record(7, 42, 0, &long));
        let cut = event(7, 42, [MAX_PATH as i32, 12]);
        assert_eq!(store.take(&event(7, 43, [MAX_PATH as i32, 0])), [None, None], "another thread's");
        assert_eq!(store.take(&cut), [Some(long), None]);
        assert_eq!(store.take(&cut), [None, None], "taken");
    }

    #[test]
    fn records_whose_events_never_come_are_evicted_oldest_first() {
        let mut store = LongPaths::default();
        for t in 0..CAPACITY as u64 + 10 {
            store.add(&record(t, 1, 1, "/x"));
        }
        assert_eq!(store.waiting.len(), CAPACITY);
        assert_eq!(store.take(&event(5, 1, [0, MAX_PATH as i32])), [None, None]);
        assert_eq!(store.take(&event(CAPACITY as u64 + 9, 1, [0, MAX_PATH as i32])), [None, Some("/x".to_owned())]);
    }
}
