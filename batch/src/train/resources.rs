//! What a training run cost: each step's seconds and the process's peak resident memory.

use std::time::Instant;

use serde::Serialize;

/// A run's costs, as `--json` and `report.json` give them (the stored report is written
/// before publishing, so its last step is `evaluate`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    /// The process's peak resident memory (Linux's `VmHWM`), in bytes; absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Each step's wall seconds, in the order run.
    pub steps: Vec<StepSeconds>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepSeconds {
    pub step: &'static str,
    pub seconds: f64,
}

/// Times a run's steps, each from the end of the one before.
#[derive(Debug)]
pub struct Clock {
    last: Instant,
    steps: Vec<StepSeconds>,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            last: Instant::now(),
            steps: Vec::new(),
        }
    }

    /// Close step `step` now.
    pub fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        tracing::debug!(step, seconds, "step done");
        self.steps.push(StepSeconds { step, seconds });
        self.last = now;
    }

    /// The steps so far and the peak memory now.
    pub fn resources(&self) -> Resources {
        Resources {
            peak_memory_bytes: peak_memory_bytes(),
            steps: self.steps.clone(),
        }
    }
}

/// The process's peak resident set size, from `/proc/self/status` (Linux).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// The machine's memory, from `/proc/meminfo` (Linux).
pub fn memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    kilobytes(&info, "MemTotal:")
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    kilobytes(status, "VmHWM:")
}

/// The `key:   N kB` line of a `/proc` file, in bytes.
fn kilobytes(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .trim_start_matches(key)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_from_the_status_file() {
        let status = "Name:\triskfn\nVmPeak:\t  912 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1536 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
        // This process has used some memory (Linux, where the tests run).
        assert!(peak_memory_bytes().is_some_and(|b| b > 0));
    }
}
