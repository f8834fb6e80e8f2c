//! Handing freed heap back to the system once the calls are answered, so a plugin's idle
//! memory is what it keeps, not the peak of the largest answer it built (the
//! core does the same after start-up: `src/memory.rs`).

/// Returns the allocator's free pages to the kernel. glibc keeps them otherwise:
/// the calendar plugin sat at 15 MB after one 900 KiB answer and 7.5 MB after a
/// trim. Called by the crew when its last running job has written its answer,
/// so it delays no call (about half a microsecond when there is nothing to give
/// back); under a steady load it waits for the first quiet moment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn give_back() {
    // SAFETY: `malloc_trim` takes no pointer and only releases memory the
    // allocator holds free; glibc locks each arena while it works, so any thread
    // may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return memory on their own terms: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn give_back() {}
