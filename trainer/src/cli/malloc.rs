//! glibc's malloc, tuned for the commands that train or run a model.

/// A training step allocates and frees hundreds of tensors, the largest hundreds of MB (the
/// logits of a batch). glibc's malloc maps each allocation above its threshold (32 MB at most)
/// fresh from the kernel, which zeroes every page again, and unmaps it when freed. Kept in the
/// heap instead, freed memory is reused: a LoRA step of the SmolLM2-135M shape on 2 CPU cores
/// takes about 13% less time for 6% more peak memory. The data commands are left as they are
/// (they measured no faster).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only sets malloc's tuning parameters; it is called before any thread
    // of the command starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}

/// Gives the memory malloc keeps back to the kernel, so that a measurement of resident memory
/// that starts now does not count what an earlier run freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only returns free pages of malloc's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() {}
