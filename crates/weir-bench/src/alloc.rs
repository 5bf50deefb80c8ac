//! A global allocator that counts, for `weir bench`'s deterministic counters: allocations and
//! bytes allocated per run are the same on a busy machine as on a quiet one. It counts only
//! while counting is switched on, so the rest of the time it costs one relaxed load per
//! allocation on top of the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting while [`Counting::start`] is in force. The binary installs it
/// with `#[global_allocator]`.
#[derive(Debug)]
pub struct CountingAlloc;

/// Whether allocations are being counted now.
static ON: AtomicBool = AtomicBool::new(false);
/// Allocations (and reallocations) counted, and the bytes they asked for.
static COUNT: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only atomics and never allocates.
#[allow(unsafe_code)] // A global allocator is an unsafe trait; this one adds counting only.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count(bytes: usize) {
    if ON.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Allocations counted, and the bytes they asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    pub count: u64,
    pub bytes: u64,
}

/// Counting switched on until [`Counting::stop`]: one counting window at a time.
#[derive(Debug)]
pub struct Counting {
    before: Allocations,
}

impl Counting {
    /// Starts counting every allocation of every thread.
    pub fn start() -> Counting {
        let before = totals();
        ON.store(true, Ordering::SeqCst);
        Counting { before }
    }

    /// Stops counting, and says what was counted since the start: zero in a process that does
    /// not allocate through [`CountingAlloc`] (see [`installed`]).
    pub fn stop(self) -> Allocations {
        ON.store(false, Ordering::SeqCst);
        let after = totals();
        Allocations { count: after.count - self.before.count, bytes: after.bytes - self.before.bytes }
    }
}

fn totals() -> Allocations {
    Allocations { count: COUNT.load(Ordering::SeqCst), bytes: BYTES.load(Ordering::SeqCst) }
}

/// Whether this process counts with [`CountingAlloc`]: an allocation while counting shows up.
pub fn installed() -> bool {
    let counting = Counting::start();
    drop(std::hint::black_box(Box::new(0u64)));
    counting.stop().count > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static COUNTED: CountingAlloc = CountingAlloc;

    #[test]
    fn allocations_are_counted_only_while_counting() {
        assert!(installed());
        let counting = Counting::start();
        let kept: Vec<Vec<u8>> = (0..100).map(|i| vec![0; 1000 + i]).collect();
        let counted = counting.stop();
        assert!(counted.count >= 100, "{counted:?}");
        assert!(counted.bytes >= 100 * 1000, "{counted:?}");
        let idle = Counting::start().stop();
        drop(kept);
        assert_eq!(idle, Allocations::default());
    }
}
