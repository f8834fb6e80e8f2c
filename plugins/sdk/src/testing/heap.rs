//! The heap of a test binary, counted: a test declares
//! `#[global_allocator] static HEAP: CountingAllocator = CountingAllocator;` and
//! asks how much a call grew the heap at its highest ([`peak_growth`]) or how much
//! stays in use ([`in_use`]). The counts are the whole process's: tests that
//! measure should take turns.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes in use and their high-water mark.
pub struct CountingAllocator;

// SAFETY: every call is passed on unchanged to `System`; only counters are added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(pointer, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Bytes in use now (0 unless [`CountingAllocator`] is the global allocator).
pub fn in_use() -> usize {
    IN_USE.load(Ordering::SeqCst)
}

/// Runs `work`; its answer and how far above the bytes in use before it the heap
/// went at its highest meanwhile.
pub fn peak_growth<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let baseline = in_use();
    PEAK.store(baseline, Ordering::SeqCst);
    let answer = work();
    let grew = PEAK.load(Ordering::SeqCst).saturating_sub(baseline);
    (answer, grew)
}
