//! Counts `alloc` and `realloc` calls made on the measuring thread while on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

/// Backtraces still to print (from `MSRP_ALLOC_BACKTRACE`).
static TRACES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread (tests run on threads of their own).
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Set while a backtrace is captured, whose own allocations are not counted.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

fn note(layout: Layout, what: &str) {
    if !ON.with(Cell::get) || INSIDE.with(Cell::get) {
        return;
    }
    COUNT.with(|c| c.set(c.get() + 1));
    if TRACES.load(Ordering::Relaxed) > 0 {
        TRACES.fetch_sub(1, Ordering::Relaxed);
        INSIDE.with(|i| i.set(true));
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("--- {what} of {} bytes:\n{trace}", layout.size());
        INSIDE.with(|i| i.set(false));
    }
}

// SAFETY: every call is passed to `System` unchanged; the counting touches only
// an atomic and const-initialised thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout, "alloc");
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout, "alloc_zeroed");
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(layout, "realloc");
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Starts counting on this thread from zero.
pub fn start() {
    let traces = std::env::var("MSRP_ALLOC_BACKTRACE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    TRACES.store(traces, Ordering::Relaxed);
    COUNT.with(|c| c.set(0));
    ON.with(|on| on.set(true));
}

/// Stops counting; the allocations counted since `start`.
pub fn stop() -> Option<u64> {
    ON.with(|on| on.set(false));
    Some(COUNT.with(Cell::get))
}
