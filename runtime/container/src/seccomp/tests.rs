//! Runs compiled programs in a small classic-BPF interpreter that emulates the target
//! machine's byte order, so both x86_64 and s390x programs are checked on any host.

use super::*;
use oci_spec::runtime::LinuxSyscall;

/// A syscall as the kernel would describe it in `struct seccomp_data`.
struct Call {
    arch: Arch,
    nr: u32,
    args: [u64; 6],
}

fn data(c: &Call) -> Vec<u8> {
    let le = little_endian(c.arch);
    let mut v = Vec::new();
    let w32 =
        |v: &mut Vec<u8>, x: u32| v.extend(if le { x.to_le_bytes() } else { x.to_be_bytes() });
    let w64 =
        |v: &mut Vec<u8>, x: u64| v.extend(if le { x.to_le_bytes() } else { x.to_be_bytes() });
    w32(&mut v, c.nr);
    w32(&mut v, c.arch as u32);
    w64(&mut v, 0x1234);
    for a in c.args {
        w64(&mut v, a);
    }
    v
}

/// Interprets `prog` on the call; the machine's byte order is the call's architecture's.
fn run(prog: &[SockFilter], c: &Call) -> u32 {
    let d = data(c);
    let le = little_endian(c.arch);
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = prog[pc];
        pc += 1;
        match i.code {
            BPF_LD_W_ABS => {
                let o = i.k as usize;
                let b: [u8; 4] = d[o..o + 4].try_into().unwrap();
                acc = if le {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                };
            }
            BPF_ALU_AND_K => acc &= i.k,
            BPF_JMP_JA => pc += i.k as usize,
            BPF_JMP_JEQ_K | BPF_JMP_JGT_K | BPF_JMP_JGE_K => {
                let t = match i.code {
                    BPF_JMP_JEQ_K => acc == i.k,
                    BPF_JMP_JGT_K => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if t { i.jt } else { i.jf } as usize;
            }
            BPF_RET_K => return i.k,
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
    panic!("program did not terminate");
}

fn call(arch: Arch, name: &str, args: [u64; 6]) -> Call {
    Call {
        arch,
        nr: syscall_number(name, arch).unwrap(),
        args,
    }
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

const BOTH: [Arch; 2] = [Arch::ScmpArchX86_64, Arch::ScmpArchS390x];
const EPERM: u32 = RET_ERRNO | 1;

#[test]
fn syscall_tables_know_both_arches() {
    assert_eq!(
        syscall_number("sethostname", Arch::ScmpArchX86_64),
        Some(170)
    );
    assert_eq!(syscall_number("sethostname", Arch::ScmpArchS390x), Some(74));
    assert_eq!(syscall_number("sethostname", Arch::ScmpArchX86), Some(74));
    assert_eq!(syscall_number("arch_prctl", Arch::ScmpArchS390x), None);
    assert_eq!(syscall_number("no_such_call", Arch::ScmpArchX86_64), None);
    let t = table::SYSCALLS;
    assert!(
        t.windows(2).all(|w| w[0].0 < w[1].0),
        "table must be sorted for binary search"
    );
}

#[test]
fn denylist_blocks_named_call_with_errno() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["sethostname","no_such_call"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    );
    for arch in BOTH {
        let prog = compile_seccomp(&p, arch).unwrap();
        assert_eq!(
            run(&prog, &call(arch, "sethostname", [0; 6])),
            RET_ERRNO | 13,
            "{arch}"
        );
        assert_eq!(
            run(&prog, &call(arch, "getpid", [0; 6])),
            RET_ALLOW,
            "{arch}"
        );
    }
}

#[test]
fn other_architectures_are_killed() {
    let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    let prog = compile_seccomp(&p, Arch::ScmpArchX86_64).unwrap();
    let foreign = Call {
        arch: Arch::ScmpArchAarch64,
        nr: 1,
        args: [0; 6],
    };
    assert_eq!(run(&prog, &foreign), RET_KILL_PROCESS);
    // i386 is not covered unless listed
    let i386 = call(Arch::ScmpArchX86, "getpid", [0; 6]);
    assert_eq!(run(&prog, &i386), RET_KILL_PROCESS);
    // x32 syscall numbers on the x86_64 arch are refused
    let x32 = Call {
        arch: Arch::ScmpArchX86_64,
        nr: 0x4000_0027,
        args: [0; 6],
    };
    assert_eq!(run(&prog, &x32), RET_KILL_PROCESS);
}

#[test]
fn i386_section_when_listed() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["getpid","socketcall"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let prog = compile_seccomp(&p, Arch::ScmpArchX86_64).unwrap();
    assert_eq!(
        run(&prog, &call(Arch::ScmpArchX86, "getpid", [0; 6])),
        RET_ALLOW
    );
    assert_eq!(
        run(&prog, &call(Arch::ScmpArchX86, "socketcall", [0; 6])),
        RET_ALLOW
    );
    assert_eq!(
        run(&prog, &call(Arch::ScmpArchX86, "getppid", [0; 6])),
        EPERM
    );
    assert_eq!(
        run(&prog, &call(Arch::ScmpArchX86_64, "getpid", [0; 6])),
        RET_ALLOW
    );
}

fn op_profile(op: &str, value: u64, value_two: u64) -> LinuxSeccomp {
    profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["personality"],
        "action":"SCMP_ACT_ALLOW","args":[{{"index":2,"value":{value},"valueTwo":{value_two},"op":"{op}"}}]}}]}}"#
    ))
}

#[test]
fn argument_operators_compare_64_bit_values_on_both_byte_orders() {
    let big: u64 = 0x0000_0001_0000_0005;
    let samples = [
        0u64,
        4,
        5,
        6,
        big - 1,
        big,
        big + 1,
        0x0000_0002_0000_0000,
        u64::MAX,
    ];
    type Check = fn(u64, u64) -> bool;
    let ops: [(&str, Check); 6] = [
        ("SCMP_CMP_EQ", |a, v| a == v),
        ("SCMP_CMP_NE", |a, v| a != v),
        ("SCMP_CMP_LT", |a, v| a < v),
        ("SCMP_CMP_LE", |a, v| a <= v),
        ("SCMP_CMP_GT", |a, v| a > v),
        ("SCMP_CMP_GE", |a, v| a >= v),
    ];
    for arch in BOTH {
        for v in [5u64, big] {
            for (name, f) in ops {
                let prog = compile_seccomp(&op_profile(name, v, 0), arch).unwrap();
                for a in samples {
                    let got = run(&prog, &call(arch, "personality", [0, 0, a, 0, 0, 0]));
                    let want = if f(a, v) { RET_ALLOW } else { EPERM };
                    assert_eq!(got, want, "{arch} {name} arg={a:#x} value={v:#x}");
                }
            }
        }
    }
}

#[test]
fn masked_eq_uses_value_as_mask() {
    // CLONE_NEW* mask must be zero
    for arch in BOTH {
        let prog =
            compile_seccomp(&op_profile("SCMP_CMP_MASKED_EQ", 0x7E02_0000, 0), arch).unwrap();
        let allowed = run(
            &prog,
            &call(arch, "personality", [0, 0, 0x0001_1111, 0, 0, 0]),
        );
        let denied = run(
            &prog,
            &call(arch, "personality", [0, 0, 0x2000_0000, 0, 0, 0]),
        );
        assert_eq!((allowed, denied), (RET_ALLOW, EPERM), "{arch}");
        // the high half counts too
        let prog = compile_seccomp(
            &op_profile("SCMP_CMP_MASKED_EQ", 0xff_0000_0000, 0x12_0000_0000),
            arch,
        )
        .unwrap();
        assert_eq!(
            run(
                &prog,
                &call(arch, "personality", [0, 0, 0x12_dead_beef, 0, 0, 0])
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &prog,
                &call(arch, "personality", [0, 0, 0x13_0000_0000, 0, 0, 0])
            ),
            EPERM
        );
    }
}

#[test]
fn actions_map_to_kernel_values() {
    for (act, want) in [
        ("SCMP_ACT_KILL", RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", RET_TRAP),
        ("SCMP_ACT_LOG", RET_LOG),
        ("SCMP_ACT_ERRNO", EPERM),
    ] {
        let p = profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["uname"],"action":"{act}"}}]}}"#
        ));
        let prog = compile_seccomp(&p, Arch::ScmpArchS390x).unwrap();
        assert_eq!(
            run(&prog, &call(Arch::ScmpArchS390x, "uname", [0; 6])),
            want,
            "{act}"
        );
    }
    let p = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
    assert!(compile_seccomp(&p, Arch::ScmpArchX86_64).is_err());
    let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    assert!(compile_seccomp(&p, Arch::ScmpArchAarch64).is_err());
}

#[test]
fn bad_argument_index_is_an_error() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let e = compile_seccomp(&p, Arch::ScmpArchX86_64).unwrap_err();
    assert!(e.to_string().contains("index 6"), "{e}");
}

#[test]
fn runtime_default_allows_common_calls_and_blocks_dangerous_ones() {
    let p = runtime_default_seccomp();
    for arch in BOTH {
        let prog = compile_seccomp(&p, arch).unwrap();
        assert!(prog.len() < MAX_INSNS);
        for ok in [
            "read",
            "write",
            "execve",
            "openat",
            "mmap",
            "exit_group",
            "wait4",
            "uname",
            "sethostname",
        ] {
            assert_eq!(
                run(&prog, &call(arch, ok, [0; 6])),
                RET_ALLOW,
                "{arch} {ok}"
            );
        }
        for bad in [
            "mount",
            "umount2",
            "pivot_root",
            "reboot",
            "kexec_load",
            "init_module",
            "finit_module",
            "delete_module",
            "swapon",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "userfaultfd",
            "clock_settime",
            "settimeofday",
            "acct",
            "unshare",
            "setns",
            "open_by_handle_at",
            "name_to_handle_at",
        ] {
            assert_eq!(run(&prog, &call(arch, bad, [0; 6])), EPERM, "{arch} {bad}");
        }
        assert_eq!(
            run(&prog, &call(arch, "clone3", [0; 6])),
            RET_ERRNO | libc::ENOSYS as u32,
            "{arch}"
        );
        assert_eq!(
            run(
                &prog,
                &call(arch, "personality", [0xffff_ffff, 0, 0, 0, 0, 0])
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(
                &prog,
                &call(arch, "personality", [0x0040_0000, 0, 0, 0, 0, 0])
            ),
            EPERM
        );
    }
    // clone: namespace flags refused (flags at the native index)
    let arch = native_arch().unwrap_or(Arch::ScmpArchX86_64);
    let prog = compile_seccomp(&p, arch).unwrap();
    let i = if cfg!(target_arch = "s390x") { 1 } else { 0 };
    let mut args = [0u64; 6];
    args[i] = 0x0001_1200; // CLONE_VM | CLONE_THREAD-ish, no namespaces
    assert_eq!(run(&prog, &call(arch, "clone", args)), RET_ALLOW);
    args[i] |= 0x2000_0000; // CLONE_NEWPID
    assert_eq!(run(&prog, &call(arch, "clone", args)), EPERM);
}

#[test]
fn rules_equal_to_default_and_many_rules_compile() {
    let names: Vec<String> = table::SYSCALLS.iter().map(|e| e.0.to_string()).collect();
    let mut rule = LinuxSyscall::default();
    rule.set_names(names);
    rule.set_action(LinuxSeccompAction::ScmpActAllow);
    let mut p = LinuxSeccomp::default();
    p.set_default_action(LinuxSeccompAction::ScmpActAllow);
    p.set_syscalls(Some(vec![rule.clone()]));
    // every rule equals the default: just the dispatch and the default return
    let prog = compile_seccomp(&p, Arch::ScmpArchS390x).unwrap();
    assert!(prog.len() < 10, "{}", prog.len());
    p.set_default_action(LinuxSeccompAction::ScmpActErrno);
    let prog = compile_seccomp(&p, Arch::ScmpArchX86_64).unwrap();
    assert_eq!(
        run(&prog, &call(Arch::ScmpArchX86_64, "getpid", [0; 6])),
        RET_ALLOW
    );
}
