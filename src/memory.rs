//! The core's heap handed back to the system after start-up and reloads (an
//! idle core should not hold what compiling schemas and patterns freed).

/// Hands the heap freed after start-up (schema and pattern compilation) back to the
/// system; glibc keeps it otherwise, and an idle core would hold it for good.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn return_free_memory() {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own free lists;
    // it is safe to call from any thread at any time.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Nothing to hand back where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_free_memory() {}
