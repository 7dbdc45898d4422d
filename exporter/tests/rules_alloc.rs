//! Evaluating events allocates nothing once warmed up (a counting global allocator; this file
//! holds a single test so no other test thread allocates meanwhile).

use exporter::rules::{Engine, Event, MatchMode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluation_does_not_allocate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut engine = Engine::load_dir(&root.join("../rules"));
    assert!(!engine.has_errors());
    engine.mode = MatchMode::All;
    let mut events = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/data/rules/events")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        events.extend(text.lines().map(|l| Event::from_json(l).unwrap()));
    }
    let mut hits = Vec::with_capacity(64);
    let run = |hits: &mut Vec<u32>| {
        let mut n = 0;
        for ev in &events {
            hits.clear();
            n += engine.evaluate(ev, hits);
        }
        n
    };
    let warm = run(&mut hits);
    assert!(warm > 30);
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(run(&mut hits), warm);
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0, "allocations while evaluating");
}
