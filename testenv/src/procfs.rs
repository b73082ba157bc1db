//! Process figures the benches print, from Linux's `/proc`.

/// A field of `/proc/<pid>/status` given in kB (`VmRSS:`, `VmHWM:`); `None` without `/proc`
/// or once the process is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_resident_size() {
        let kib = proc_status_kib(std::process::id(), "VmRSS:").expect("VmRSS of this process");
        assert!(kib > 0);
        assert_eq!(proc_status_kib(std::process::id(), "NoSuchField:"), None);
    }
}
