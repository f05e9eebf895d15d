//! Seccomp: compiles OCI seccomp profiles to classic BPF (no libseccomp) and installs them.
//!
//! The program checks `seccomp_data.arch`, dispatches to one section per architecture (the
//! target plus i386 for x86_64 profiles that list it), matches syscall numbers and argument
//! conditions, and returns the rule's action or the profile's default action. 64-bit argument
//! values are compared as two 32-bit halves whose offsets depend on the architecture's byte
//! order.

mod default;
mod table;

use crate::error::{Error, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator,
};

pub use default::runtime_default_seccomp;

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

// classic BPF opcodes (linux/filter.h, linux/bpf_common.h)
/// BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
pub(crate) const BPF_LD_W_ABS: u16 = 0x20;
pub(crate) const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
pub(crate) const BPF_JMP_JA: u16 = 0x05;
pub(crate) const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
pub(crate) const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
pub(crate) const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
pub(crate) const BPF_RET_K: u16 = 0x06;

// seccomp return values (linux/seccomp.h)
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(crate) const RET_KILL_THREAD: u32 = 0x0000_0000;
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_TRACE: u32 = 0x7ff0_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;

/// Syscall numbers at or above this on x86_64 are the x32 ABI.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Most instructions a filter may have (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// `offsetof(struct seccomp_data, nr)`, `arch` and `args`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// The audit architecture of the machine we run on, as an OCI `Arch`.
pub fn native_arch() -> Option<Arch> {
    if cfg!(target_arch = "x86_64") {
        Some(Arch::ScmpArchX86_64)
    } else if cfg!(target_arch = "s390x") {
        Some(Arch::ScmpArchS390x)
    } else {
        None
    }
}

/// The syscall number of `name` on `arch`, if that architecture has it.
pub fn syscall_number(name: &str, arch: Arch) -> Option<u32> {
    let i = table::SYSCALLS.binary_search_by(|e| e.0.cmp(name)).ok()?;
    let (_, x86_64, i386, s390x) = table::SYSCALLS[i];
    let nr = match arch {
        Arch::ScmpArchX86_64 => x86_64,
        Arch::ScmpArchX86 => i386,
        Arch::ScmpArchS390x => s390x,
        _ => -1,
    };
    u32::try_from(nr).ok()
}

fn little_endian(arch: Arch) -> bool {
    !matches!(arch, Arch::ScmpArchS390x | Arch::ScmpArchS390)
}

/// The seccomp return value for an OCI action.
pub(crate) fn action_value(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32> {
    let data = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Seccomp(
                "action SCMP_ACT_NOTIFY is not supported".into(),
            ));
        }
    })
}

/// A jump target in the assembler.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Label(usize),
}

enum Insn {
    Ld(u32),
    And(u32),
    Jmp(u16, u32, Target, Target),
    Ja(usize),
    Ret(u32),
    Label(usize),
}

#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn finish(self) -> Result<Vec<SockFilter>> {
        let mut pos = vec![usize::MAX; self.labels];
        let mut n = 0usize;
        for i in &self.insns {
            match i {
                Insn::Label(l) => pos[*l] = n,
                _ => n += 1,
            }
        }
        if n > MAX_INSNS {
            return Err(Error::Seccomp(format!(
                "the filter has {n} instructions, more than the kernel's limit of {MAX_INSNS}"
            )));
        }
        let mut out = Vec::with_capacity(n);
        let rel = |at: usize, t: Target| -> Result<u8> {
            match t {
                Target::Next => Ok(0),
                Target::Label(l) => {
                    let d = pos[l].checked_sub(at + 1).ok_or_else(|| {
                        Error::Seccomp("internal error: backward jump in the filter".into())
                    })?;
                    u8::try_from(d).map_err(|_| {
                        Error::Seccomp(format!(
                            "internal error: conditional jump of {d} instructions"
                        ))
                    })
                }
            }
        };
        for i in &self.insns {
            let at = out.len();
            let f = match *i {
                Insn::Label(_) => continue,
                Insn::Ld(k) => SockFilter {
                    code: BPF_LD_W_ABS,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Insn::And(k) => SockFilter {
                    code: BPF_ALU_AND_K,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Insn::Ret(k) => SockFilter {
                    code: BPF_RET_K,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Insn::Ja(l) => {
                    let d = pos[l].checked_sub(at + 1).ok_or_else(|| {
                        Error::Seccomp("internal error: backward jump in the filter".into())
                    })?;
                    SockFilter {
                        code: BPF_JMP_JA,
                        jt: 0,
                        jf: 0,
                        k: d as u32,
                    }
                }
                Insn::Jmp(code, k, jt, jf) => SockFilter {
                    code,
                    jt: rel(at, jt)?,
                    jf: rel(at, jf)?,
                    k,
                },
            };
            out.push(f);
        }
        Ok(out)
    }
}

/// Emits the check of one argument condition: falls through when it holds, jumps to `fail`
/// otherwise.
fn emit_arg(a: &mut Asm, arg: &LinuxSeccompArg, le: bool, fail: usize) -> Result<()> {
    let idx = arg.index();
    if idx > 5 {
        return Err(Error::Seccomp(format!(
            "argument index {idx} is out of range 0..=5"
        )));
    }
    let base = OFF_ARGS + 8 * idx as u32;
    let (lo_off, hi_off) = if le {
        (base, base + 4)
    } else {
        (base + 4, base)
    };
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let (vhi, vlo) = split(arg.value());
    let pass = a.label();
    let f = Target::Label(fail);
    let p = Target::Label(pass);
    let n = Target::Next;
    match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => {
            a.push(Insn::Ld(hi_off));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vhi, n, f));
            a.push(Insn::Ld(lo_off));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vlo, n, f));
        }
        LinuxSeccompOperator::ScmpCmpNe => {
            a.push(Insn::Ld(hi_off));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vhi, n, p));
            a.push(Insn::Ld(lo_off));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vlo, f, p));
        }
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            // OCI: value is the mask, valueTwo the value the masked argument must equal
            let (ehi, elo) = split(arg.value_two().unwrap_or(0));
            a.push(Insn::Ld(hi_off));
            a.push(Insn::And(vhi));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, ehi, n, f));
            a.push(Insn::Ld(lo_off));
            a.push(Insn::And(vlo));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, elo, n, f));
        }
        LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe => {
            let lo_op = if arg.op() == LinuxSeccompOperator::ScmpCmpGt {
                BPF_JMP_JGT_K
            } else {
                BPF_JMP_JGE_K
            };
            a.push(Insn::Ld(hi_off));
            a.push(Insn::Jmp(BPF_JMP_JGT_K, vhi, p, n));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vhi, n, f));
            a.push(Insn::Ld(lo_off));
            a.push(Insn::Jmp(lo_op, vlo, p, f));
        }
        LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe => {
            // arg < v  <=>  !(arg >= v);  arg <= v  <=>  !(arg > v)
            let lo_op = if arg.op() == LinuxSeccompOperator::ScmpCmpLt {
                BPF_JMP_JGE_K
            } else {
                BPF_JMP_JGT_K
            };
            a.push(Insn::Ld(hi_off));
            a.push(Insn::Jmp(BPF_JMP_JGT_K, vhi, f, n));
            a.push(Insn::Jmp(BPF_JMP_JEQ_K, vhi, n, p));
            a.push(Insn::Ld(lo_off));
            a.push(Insn::Jmp(lo_op, vlo, f, p));
        }
    }
    a.push(Insn::Label(pass));
    Ok(())
}

/// The architectures a profile compiled for `target` covers.
fn arches_for(profile: &LinuxSeccomp, target: Arch) -> Vec<Arch> {
    let mut v = vec![target];
    let listed = profile.architectures().as_deref().unwrap_or(&[]);
    if target == Arch::ScmpArchX86_64 && listed.contains(&Arch::ScmpArchX86) {
        v.push(Arch::ScmpArchX86);
    }
    v
}

/// Compiles `profile` to a classic BPF seccomp program for a machine of architecture `arch`
/// (`SCMP_ARCH_X86_64` or `SCMP_ARCH_S390X`). Pure: does not touch the kernel.
///
/// Syscall names unknown on an architecture are skipped (as libseccomp does); architectures
/// in the profile other than the target (and i386 on x86_64) are ignored; syscalls of an
/// architecture the program does not cover, and x32 syscalls, kill the process.
pub fn compile_seccomp(profile: &LinuxSeccomp, arch: Arch) -> Result<Vec<SockFilter>> {
    if !matches!(arch, Arch::ScmpArchX86_64 | Arch::ScmpArchS390x) {
        return Err(Error::Seccomp(format!(
            "target architecture {arch} is not supported"
        )));
    }
    if profile.listener_path().is_some() {
        return Err(Error::Seccomp(
            "listenerPath (user notification) is not supported".into(),
        ));
    }
    let default = action_value(profile.default_action(), profile.default_errno_ret())?;
    let arches = arches_for(profile, arch);
    let mut a = Asm::default();
    let sections: Vec<usize> = arches.iter().map(|_| a.label()).collect();

    a.push(Insn::Ld(OFF_ARCH));
    for (ar, sec) in arches.iter().zip(&sections) {
        // jt falls through to the trampoline (sections are too far for an 8-bit jump)
        let skip = a.label();
        a.push(Insn::Jmp(
            BPF_JMP_JEQ_K,
            *ar as u32,
            Target::Next,
            Target::Label(skip),
        ));
        a.push(Insn::Ja(*sec));
        a.push(Insn::Label(skip));
    }
    a.push(Insn::Ret(RET_KILL_PROCESS));

    for (ar, sec) in arches.iter().zip(&sections) {
        let le = little_endian(*ar);
        a.push(Insn::Label(*sec));
        a.push(Insn::Ld(OFF_NR));
        if *ar == Arch::ScmpArchX86_64 {
            let ok = a.label();
            a.push(Insn::Jmp(
                BPF_JMP_JGE_K,
                X32_SYSCALL_BIT,
                Target::Next,
                Target::Label(ok),
            ));
            a.push(Insn::Ret(RET_KILL_PROCESS));
            a.push(Insn::Label(ok));
        }
        for rule in profile.syscalls().as_deref().unwrap_or(&[]) {
            let action = action_value(rule.action(), rule.errno_ret())?;
            if action == default {
                continue;
            }
            let args = rule.args().as_deref().unwrap_or(&[]);
            for name in rule.names() {
                let Some(nr) = syscall_number(name, *ar) else {
                    continue;
                };
                let skip = a.label();
                a.push(Insn::Jmp(
                    BPF_JMP_JEQ_K,
                    nr,
                    Target::Next,
                    Target::Label(skip),
                ));
                for arg in args {
                    emit_arg(&mut a, arg, le, skip)?;
                }
                a.push(Insn::Ret(action));
                a.push(Insn::Label(skip));
                if !args.is_empty() {
                    a.push(Insn::Ld(OFF_NR));
                }
            }
        }
        a.push(Insn::Ret(default));
    }
    a.finish()
}

/// Installs a compiled filter on the calling thread. The caller must have set
/// no_new_privs or hold CAP_SYS_ADMIN.
#[allow(unsafe_code)]
pub fn install(filter: &[SockFilter]) -> Result<()> {
    let mut raw: Vec<libc::sock_filter> = filter
        .iter()
        .map(|f| libc::sock_filter {
            code: f.code,
            jt: f.jt,
            jf: f.jf,
            k: f.k,
        })
        .collect();
    let len = u16::try_from(raw.len())
        .map_err(|_| Error::Seccomp(format!("filter of {} instructions is too long", raw.len())))?;
    let prog = libc::sock_fprog {
        len,
        filter: raw.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `raw`, which outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            0 as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = nix::Error::last();
    if err != nix::Error::ENOSYS {
        return Err(Error::sys("seccomp(SECCOMP_SET_MODE_FILTER)", err));
    }
    // SAFETY: as above; prctl(PR_SET_SECCOMP) copies the program.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::sys("prctl(PR_SET_SECCOMP)", nix::Error::last()))
    }
}

#[cfg(test)]
mod tests;
