//! Which process runs a run. It is recorded with the run, so `weir resume` can tell a run whose
//! process died (it stays `running` in the store) from one that is still going.

/// This process: `<host>:<boot id>:<pid>:<start time>` on Linux — the boot id tells a process of
/// an earlier boot, the start time (in clock ticks since boot) a pid that was reused — and
/// `pid:<pid>` elsewhere.
pub fn current() -> String {
    let pid = std::process::id();
    match (host(), boot_id(), start_time(pid)) {
        (Some(host), Some(boot), Some(start)) => format!("{host}:{boot}:{pid}:{start}"),
        _ => format!("pid:{pid}"),
    }
}

/// Whether the process `owner` names is alive, if this machine can tell: a process of this
/// machine's current boot is looked up by pid and start time; one of an earlier boot is gone.
/// `None` for another machine's process, or where processes cannot be looked up.
pub fn alive(owner: &str) -> Option<bool> {
    let mut parts = owner.rsplitn(4, ':');
    let (start, pid, boot, host_name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if Some(host_name) != host().as_deref() {
        return None;
    }
    if Some(boot) != boot_id().as_deref() {
        return Some(false);
    }
    let pid: u32 = pid.parse().ok()?;
    Some(start_time(pid).is_some_and(|s| s == start))
}

/// The pid in `owner`, for messages.
pub fn pid(owner: &str) -> Option<&str> {
    owner.rsplit(':').nth(1).filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn host() -> Option<String> {
    read("/proc/sys/kernel/hostname")
}

fn boot_id() -> Option<String> {
    read("/proc/sys/kernel/random/boot_id")
}

/// When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`); none
/// for a process that is gone or a zombie.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; the rest follow it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18).map(str::to_owned)
}

fn read(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty() && !t.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_not() {
        let me = current();
        if me.starts_with("pid:") {
            assert_eq!(alive(&me), None, "no /proc: cannot tell");
            return;
        }
        assert_eq!(alive(&me), Some(true), "{me}");
        assert_eq!(pid(&me), Some(std::process::id().to_string().as_str()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = me.replace(&format!(":{}:", std::process::id()), &format!(":{}:", child.id()));
        child.wait().unwrap();
        assert_eq!(alive(&gone), Some(false), "a reaped process, or a reused pid with another start");
        let (host_part, rest) = me.split_once(':').unwrap();
        let earlier_boot =
            format!("{host_part}:00000000-0000-0000-0000-000000000000:{}", rest.split_once(':').unwrap().1);
        assert_eq!(alive(&earlier_boot), Some(false));
        assert_eq!(alive(&format!("elsewhere.example:{rest}")), None);
        assert_eq!(alive("pid:12"), None);
    }
}
