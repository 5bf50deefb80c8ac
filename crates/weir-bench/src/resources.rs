//! What measured work cost the machine: CPU time and the peak resident set, of this process or
//! of the child processes it waited for (`getrusage`).

use std::time::Duration;

/// CPU time and peak memory, as the kernel counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// The largest resident set: of this process, or of the largest child waited for.
    pub max_rss_bytes: u64,
}

impl Usage {
    /// This process so far.
    pub fn own() -> Usage {
        rusage(Who::Own)
    }

    /// Every child process this process has waited for so far, added up (the peak is the
    /// largest child's).
    pub fn children() -> Usage {
        rusage(Who::Children)
    }

    /// The CPU time from `earlier` to `self`; the peak stays `self`'s.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
            max_rss_bytes: self.max_rss_bytes,
        }
    }
}

enum Who {
    Own,
    Children,
}

#[cfg(unix)]
fn rusage(who: Who) -> Usage {
    let who = match who {
        Who::Own => libc::RUSAGE_SELF,
        Who::Children => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: `rusage` is plain data that getrusage fills in whole; zeroes are a valid value of it.
    #[allow(unsafe_code)] // std has no getrusage, and neither has any crate in the tree.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return Usage::default();
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    // Linux counts the peak in KiB, macOS in bytes.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Usage {
        user: time(usage.ru_utime),
        sys: time(usage.ru_stime),
        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * unit,
    }
}

#[cfg(not(unix))]
fn rusage(_: Who) -> Usage {
    Usage::default()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_as_cpu_time_and_the_peak_holds_what_was_touched() {
        let before = Usage::own();
        let deadline = std::time::Instant::now() + Duration::from_millis(50);
        let mut x = 0u64;
        while std::time::Instant::now() < deadline {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        let block = vec![x as u8 | 1; 64 << 20];
        let used = Usage::own().since(before);
        assert!(used.user + used.sys >= Duration::from_millis(20), "{used:?}");
        assert!(used.max_rss_bytes >= 64 << 20, "{used:?} after touching {} bytes", block.len());
    }
}
