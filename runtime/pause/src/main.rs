//! `pause`: the process that holds a pod sandbox's namespaces open.
//!
//! Same contract as Kubernetes' `build/pause/linux/pause.c`: sleep forever, reap zombie
//! children (it is PID 1 when the pod shares its PID namespace), and exit 0 on SIGINT/SIGTERM.
//! `-v` prints the version. Only libc symbols that std already links are used, so the crate
//! has no dependencies and links statically.

use std::io::Write as _;

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGCHLD: i32 = 17;
const WNOHANG: i32 = 1;

unsafe extern "C" {
    fn signal(signum: i32, handler: usize) -> usize;
    fn pause() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn getpid() -> i32;
    fn _exit(code: i32) -> !;
}

extern "C" fn on_terminate(_signum: i32) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { _exit(0) }
}

extern "C" fn on_child(_signum: i32) {
    // SAFETY: waitpid is async-signal-safe; a null status pointer is allowed.
    while unsafe { waitpid(-1, std::ptr::null_mut(), WNOHANG) } > 0 {}
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("-v") {
        println!("pause.rs-{}", env!("CARGO_PKG_VERSION"));
        return;
    }
    // SAFETY: getpid has no preconditions.
    if unsafe { getpid() } != 1 {
        let _ = writeln!(
            std::io::stderr(),
            "Warning: pause should be the first process"
        );
    }
    // SAFETY: installing handlers that only call async-signal-safe functions.
    unsafe {
        signal(SIGINT, on_terminate as extern "C" fn(i32) as usize);
        signal(SIGTERM, on_terminate as extern "C" fn(i32) as usize);
        signal(SIGCHLD, on_child as extern "C" fn(i32) as usize);
    }
    loop {
        // SAFETY: pause only blocks until a signal arrives.
        unsafe { pause() };
    }
}
