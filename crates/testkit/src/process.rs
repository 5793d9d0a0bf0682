//! Process inspection through /proc: is a child still there, who are our children, and does
//! any process show a secret on its command line or in its environment.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (pid, /proc/<pid>) of every process visible now.
fn processes() -> impl Iterator<Item = (u32, PathBuf)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_string_lossy().parse::<u32>().ok()?, entry.path())))
}

/// (command name, parent pid) from /proc/<pid>/stat.
fn name_and_parent(proc_dir: &Path) -> Option<(String, u32)> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or("").to_string();
    let ppid = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
    Some((name, ppid))
}

fn mentions(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s.rsplit_once(')').map(|(_, r)| r.trim_start().chars().next().unwrap_or('?')).unwrap_or('?');
            state != 'Z' && state != 'X'
        }
    }
}

/// Waits up to `secs` for a process to be gone (exited and reaped); false when it is not.
pub fn wait_gone(pid: u32, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// (pid, where and command line) of every other process whose argv or environment contains
/// `needle`.
pub fn processes_exposing(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let me = std::process::id();
    for (pid, dir) in processes() {
        if pid == me {
            continue;
        }
        for file in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(dir.join(file))
                && mentions(&bytes, needle)
            {
                let cmd = std::fs::read(dir.join("cmdline")).unwrap_or_default();
                found.push((pid, format!("{file}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))));
            }
        }
    }
    found
}

/// (pid, command line) of the processes named `tool` (by /proc/PID/comm) whose command line
/// or environment mentions `needle`.
pub fn tool_processes(tool: &str, needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for (pid, dir) in processes() {
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if comm.trim() != tool {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        if mentions(&cmdline, needle) || mentions(&environ, needle) {
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// The pids of the children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    processes()
        .filter(|(_, dir)| name_and_parent(dir).is_some_and(|(_, ppid)| ppid == parent))
        .map(|(pid, _)| pid)
        .collect()
}

/// The pids of the children of this process that run `tool`.
pub fn my_children(tool: &str) -> Vec<u32> {
    let me = std::process::id();
    processes()
        .filter(|(_, dir)| name_and_parent(dir).is_some_and(|(name, ppid)| ppid == me && name == tool))
        .map(|(pid, _)| pid)
        .collect()
}

/// Waits up to `secs` for `check` to return an empty list; returns what is left.
pub fn wait_until_empty<T>(secs: u64, mut check: impl FnMut() -> Vec<T>) -> Vec<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = check();
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_and_sees_it_gone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(alive(pid));
        assert!(children_of(std::process::id()).contains(&pid));
        assert!(my_children("sleep").contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(wait_gone(pid, 5));
        assert!(!alive(pid));
    }
}
