//! What the home's records know of processes: when one started, so that a pid read back
//! from the records (a job's group, a model process, a room holder) is trusted only while
//! it is still the process that was recorded.

/// How far a process's start (known to a clock tick, after a boot time known to a second)
/// may lie from the moment its spawn was recorded and still be that process.
pub const START_SLACK_MS: u64 = 2_000;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces and
/// parentheses): the state first.
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// When process `pid` started, in clock ticks after boot; `None` when it is gone.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// When process `pid` started, in milliseconds since the Unix epoch (a reboot changes the
/// boot time, so a pid reused after one never matches); `None` when it is gone.
pub fn started_ms(pid: u32) -> Option<u64> {
    let ticks = start_ticks(pid)?;
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    })?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(boot * 1000 + ticks * 1000 / hz)
}
