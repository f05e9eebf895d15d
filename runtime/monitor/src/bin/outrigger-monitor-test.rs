//! Test-only stand-in for `outrigger-cri monitor <monitor.json>`: used by this crate's
//! integration tests (`tests/monitor.rs`). Not part of the runtime.

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: outrigger-monitor-test <monitor.json>");
        std::process::exit(2);
    };
    std::process::exit(outrigger_monitor::monitor_main(std::path::Path::new(&path)));
}
