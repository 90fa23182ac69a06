//! The process's resident set size, to show what a run costs and that churn gives memory
//! back. Linux only (`/proc/self/status`); elsewhere every figure is 0.

/// The current and the peak resident set size, in bytes.
pub(crate) fn rss() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
