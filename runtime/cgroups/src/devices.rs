//! Device access control on cgroup v2 with a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
//!
//! cgroup v2 has no `devices.allow`/`devices.deny` files: the kernel asks an eBPF program attached
//! to the cgroup (type `BPF_CGROUP_DEVICE`) for every device open/mknod. This module compiles the
//! OCI `linux.resources.devices` list into such a program with classic v1 semantics (the *last*
//! matching rule decides; nothing matching means deny), loads it with the raw `bpf(2)` syscall and
//! attaches it with `BPF_F_ALLOW_MULTI`, detaching the programs we attached earlier so a re-apply
//! leaves exactly one program of ours.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! where `access_type` is `(access << 16) | type` (type: 1 block, 2 char; access: 1 mknod,
//! 2 read, 4 write). Rules are emitted in reverse order, each as a block of checks that jump to
//! the next block on mismatch and otherwise return the rule's verdict.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::Error;

/// Name given to our programs (visible in `bpftool prog`); used to find the ones to replace.
pub const DEVICE_PROGRAM_NAME: &str = "outrigger_dev";

const LICENSE: &[u8] = b"Apache\0";

// struct bpf_cgroup_dev_ctx values.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes (class | size/op | mode/source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// bpf(2) commands and constants.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Device type a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Both character and block devices (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// One device cgroup rule (OCI `LinuxDeviceCgroup`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    /// `true` for allow, `false` for deny.
    pub allow: bool,
    /// Device type.
    pub kind: DeviceKind,
    /// Major number; `None` is the wildcard `*`.
    pub major: Option<i64>,
    /// Minor number; `None` is the wildcard `*`.
    pub minor: Option<i64>,
    /// Subset of `rwm`; empty matches no access (the rule is a no-op, as in cgroup v1).
    pub access: String,
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u8,
    /// Destination register (0..=10).
    pub dst: u8,
    /// Source register (0..=10).
    pub src: u8,
    /// Signed offset (jump distance or memory offset).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl BpfInsn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        BpfInsn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Encodes the instruction as the kernel of the given byte order expects it: the register
    /// byte holds `dst` in its low nibble on little-endian and in its high nibble on big-endian
    /// (C bitfield order), and `off`/`imm` are in that byte order.
    pub fn encode(&self, big_endian: bool) -> [u8; 8] {
        let (regs, off, imm) = if big_endian {
            (
                (self.dst & 0xf) << 4 | (self.src & 0xf),
                self.off.to_be_bytes(),
                self.imm.to_be_bytes(),
            )
        } else {
            (
                (self.src & 0xf) << 4 | (self.dst & 0xf),
                self.off.to_le_bytes(),
                self.imm.to_le_bytes(),
            )
        };
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }

    /// Encodes the instruction for the running kernel (native byte order).
    pub fn to_ne_bytes(&self) -> [u8; 8] {
        self.encode(cfg!(target_endian = "big"))
    }

    /// Decodes an instruction encoded with [`BpfInsn::encode`].
    pub fn decode(b: [u8; 8], big_endian: bool) -> Self {
        let off = [b[2], b[3]];
        let imm = [b[4], b[5], b[6], b[7]];
        if big_endian {
            BpfInsn::new(
                b[0],
                b[1] >> 4,
                b[1] & 0xf,
                i16::from_be_bytes(off),
                i32::from_be_bytes(imm),
            )
        } else {
            BpfInsn::new(
                b[0],
                b[1] & 0xf,
                b[1] >> 4,
                i16::from_le_bytes(off),
                i32::from_le_bytes(imm),
            )
        }
    }

    fn is_cond_jump(&self) -> bool {
        self.code & 0x07 == 0x05 && self.code != JMP_EXIT
    }
}

fn invalid(value: &str, reason: &str) -> Error {
    Error::InvalidValue {
        field: "linux.resources.devices".to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn access_bits(access: &str) -> Result<i32, Error> {
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(invalid(
                    access,
                    "access may only contain the letters r, w and m",
                ));
            }
        };
    }
    Ok(bits)
}

fn device_number(n: Option<i64>, what: &str) -> Result<Option<i32>, Error> {
    match n {
        None => Ok(None),
        Some(v) => i32::try_from(v)
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    &v.to_string(),
                    &format!("{what} number must be between 0 and {}", i32::MAX),
                )
            }),
    }
}

/// A rule after validation.
struct Checked {
    allow: bool,
    kind: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

impl Checked {
    fn matches_everything(&self) -> bool {
        self.kind.is_none()
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    /// Emits the rule's block: checks that jump past the block on mismatch, then the verdict.
    fn block(&self) -> Vec<BpfInsn> {
        let mut b = Vec::new();
        if let Some(t) = self.kind {
            b.push(BpfInsn::new(JMP_JNE_K, 2, 0, 0, t));
        }
        if self.access != ACC_ALL {
            // R1 = requested & rule access (R1, the context pointer, is no longer needed).
            b.push(BpfInsn::new(ALU32_MOV_X, 1, 3, 0, 0));
            b.push(BpfInsn::new(ALU32_AND_K, 1, 0, 0, self.access));
            if self.allow {
                // Allow only if every requested access is granted by the rule.
                b.push(BpfInsn::new(JMP_JNE_X, 1, 3, 0, 0));
            } else {
                // Deny if any requested access is named by the rule.
                b.push(BpfInsn::new(JMP_JEQ_K, 1, 0, 0, 0));
            }
        }
        if let Some(m) = self.major {
            b.push(BpfInsn::new(JMP_JNE_K, 4, 0, 0, m));
        }
        if let Some(m) = self.minor {
            b.push(BpfInsn::new(JMP_JNE_K, 5, 0, 0, m));
        }
        b.push(BpfInsn::new(ALU64_MOV_K, 0, 0, 0, i32::from(self.allow)));
        b.push(BpfInsn::new(JMP_EXIT, 0, 0, 0, 0));
        let len = b.len();
        for (i, insn) in b.iter_mut().enumerate() {
            if insn.is_cond_jump() {
                // Jumps are relative to the next instruction: land on the next block.
                insn.off = (len - i - 1) as i16;
            }
        }
        b
    }
}

/// Compiles ordered device rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// The last matching rule decides; a request no rule matches is denied (so an empty list denies
/// everything). An allow rule matches when all requested accesses are in its `access`; a deny
/// rule matches when any of them is. Rules before the last match-all rule (`a *:* rwm`) are
/// dropped since it shadows them. Fails with [`Error::InvalidValue`] on access letters other
/// than `rwm` or on negative (or > `i32::MAX`) major/minor numbers.
pub fn compile_device_program(rules: &[DeviceRule]) -> Result<Vec<BpfInsn>, Error> {
    let mut checked = Vec::with_capacity(rules.len());
    for r in rules {
        checked.push(Checked {
            allow: r.allow,
            kind: match r.kind {
                DeviceKind::All => None,
                DeviceKind::Char => Some(DEV_CHAR),
                DeviceKind::Block => Some(DEV_BLOCK),
            },
            major: device_number(r.major, "major")?,
            minor: device_number(r.minor, "minor")?,
            access: access_bits(&r.access)?,
        });
    }
    let start = checked
        .iter()
        .rposition(Checked::matches_everything)
        .unwrap_or(0);
    let mut prog = vec![
        // R2 = device type, R3 = requested access, R4 = major, R5 = minor.
        BpfInsn::new(LDX_MEM_W, 2, 1, 0, 0),
        BpfInsn::new(ALU32_AND_K, 2, 0, 0, 0xffff),
        BpfInsn::new(LDX_MEM_W, 3, 1, 0, 0),
        BpfInsn::new(ALU32_RSH_K, 3, 0, 0, 16),
        BpfInsn::new(LDX_MEM_W, 4, 1, 4, 0),
        BpfInsn::new(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let mut terminated = false;
    for rule in checked[start..].iter().rev() {
        if rule.access == 0 {
            continue; // matches no request
        }
        prog.extend(rule.block());
        if rule.matches_everything() {
            terminated = true;
            break;
        }
    }
    if !terminated {
        prog.push(BpfInsn::new(ALU64_MOV_K, 0, 0, 0, 0));
        prog.push(BpfInsn::new(JMP_EXIT, 0, 0, 0, 0));
    }
    Ok(prog)
}

/// `union bpf_attr` for `BPF_PROG_LOAD` (fields up to `expected_attach_type`).
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH`/`BPF_PROG_DETACH`.
#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for `BPF_PROG_QUERY` (explicit padding so no byte is uninitialised).
#[repr(C)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// `union bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Calls `bpf(cmd, attr, size_of::<T>())`; returns the non-negative result.
#[allow(unsafe_code)]
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] bpf_attr prefix of the given size;
    // any pointers inside it point to buffers the caller keeps alive for this call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Wraps a file descriptor returned by `bpf(2)`.
#[allow(unsafe_code)]
fn owned_fd(rc: libc::c_long) -> std::io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(rc).map_err(|_| std::io::Error::other("bad fd from bpf()"))?;
    // SAFETY: the kernel just returned this new descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn load_program(insns: &[BpfInsn]) -> std::io::Result<OwnedFd> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.to_ne_bytes()).collect();
    let mut name = [0u8; 16];
    name[..DEVICE_PROGRAM_NAME.len()].copy_from_slice(DEVICE_PROGRAM_NAME.as_bytes());
    let mut log = vec![0u8; 0];
    let attempt = |log: &mut Vec<u8>| {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: code.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            log_level: u32::from(!log.is_empty()),
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name,
            prog_ifindex: 0,
            expected_attach_type: BPF_CGROUP_DEVICE,
        };
        bpf(BPF_PROG_LOAD, &mut attr).and_then(owned_fd)
    };
    match attempt(&mut log) {
        Ok(fd) => Ok(fd),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            // Load again with the verifier log to say why.
            log = vec![0u8; 64 * 1024];
            let second = attempt(&mut log);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            match second {
                Ok(fd) => Ok(fd),
                Err(_) => Err(std::io::Error::new(
                    e.kind(),
                    format!("{e}; verifier: {}", text.lines().last().unwrap_or("")),
                )),
            }
        }
        Err(e) => Err(e),
    }
}

fn query_ids(cgroup: &File) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            pad: 0,
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && ids.len() < 1 << 16 => {
                let n = (attr.prog_cnt as usize).max(ids.len() * 2);
                ids = vec![0; n];
            }
            Err(e) => return Err(e),
        }
    }
}

fn prog_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).and_then(owned_fd)
}

/// Returns the program name (`bpf_prog_info.name`, at byte offset 64).
fn prog_name(fd: &OwnedFd) -> std::io::Result<String> {
    let mut info = [0u64; 10]; // 80 bytes, 8-aligned
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: 80,
        info: info.as_mut_ptr() as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let name: Vec<u8> = info[8..10].iter().flat_map(|w| w.to_ne_bytes()).collect();
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

fn open_cgroup(cgroup_dir: &Path) -> Result<File, Error> {
    File::open(cgroup_dir).map_err(|source| Error::Io {
        op: "open cgroup directory",
        path: cgroup_dir.to_path_buf(),
        source,
    })
}

/// Ids of our device programs ([`DEVICE_PROGRAM_NAME`]) attached directly to `cgroup_dir`.
pub fn attached_device_programs(cgroup_dir: &Path) -> Result<Vec<u32>, Error> {
    let cg = open_cgroup(cgroup_dir)?;
    Ok(ours(&cg, cgroup_dir)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

fn ours(cg: &File, cgroup_dir: &Path) -> Result<Vec<(u32, OwnedFd)>, Error> {
    let io = |op: &'static str| {
        move |source| Error::Io {
            op,
            path: cgroup_dir.to_path_buf(),
            source,
        }
    };
    let mut out = Vec::new();
    for id in query_ids(cg).map_err(io("query BPF device programs of"))? {
        let fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached and freed meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(io("open attached BPF program of")(e)),
        };
        if prog_name(&fd).map_err(io("inspect attached BPF program of"))? == DEVICE_PROGRAM_NAME {
            out.push((id, fd));
        }
    }
    Ok(out)
}

/// Compiles `rules` (see [`compile_device_program`]), loads the program and attaches it to the
/// cgroup v2 directory `cgroup_dir` with `BPF_F_ALLOW_MULTI`, then detaches the device programs
/// we attached there before, so exactly one of ours remains (safe for re-applies: the new program
/// is in force before the old one goes). Errors are [`Error::InvalidValue`] for bad rules and
/// [`Error::Io`] for syscall failures (ENOSYS/EPERM when the kernel or caller lacks BPF).
pub fn apply_device_rules_v2(cgroup_dir: &Path, rules: &[DeviceRule]) -> Result<(), Error> {
    let insns = compile_device_program(rules)?;
    let cg = open_cgroup(cgroup_dir)?;
    let old = ours(&cg, cgroup_dir)?;
    let io = |op: &'static str| {
        move |source| Error::Io {
            op,
            path: cgroup_dir.to_path_buf(),
            source,
        }
    };
    let prog = load_program(&insns).map_err(io("load BPF device program for"))?;
    let mut attach = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(io("attach BPF device program to"))?;
    for (_, fd) in old {
        let mut detach = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
            replace_bpf_fd: 0,
        };
        match bpf(BPF_PROG_DETACH, &mut detach) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io("detach old BPF device program from")(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const R: i32 = ACC_READ;
    const W: i32 = ACC_WRITE;
    const M: i32 = ACC_MKNOD;

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.to_string(),
        }
    }

    /// The default list the CRI runtime uses for unprivileged containers.
    fn cri_default() -> Vec<DeviceRule> {
        use DeviceKind::*;
        let mut v = vec![
            rule(false, All, None, None, "rwm"),
            rule(true, Char, None, None, "m"),
            rule(true, Block, None, None, "m"),
        ];
        for (ma, mi) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)] {
            v.push(rule(true, Char, Some(ma), Some(mi), "rwm"));
        }
        v.push(rule(true, Char, Some(136), None, "rwm"));
        v
    }

    /// Runs the subset of eBPF we emit on a `bpf_cgroup_dev_ctx`; returns R0.
    fn run(prog: &[BpfInsn], dev_type: i32, access: i32, major: u32, minor: u32) -> u64 {
        const CTX: u64 = 0x1_0000;
        let ctx = [((access as u32) << 16) | dev_type as u32, major, minor];
        let mut reg = [0u64; 11];
        reg[1] = CTX;
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            let k = i64::from(i.imm) as u64;
            pc += 1;
            let mut jump = |cond: bool| {
                if cond {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            };
            match i.code {
                LDX_MEM_W => {
                    let addr = reg[s].wrapping_add(i.off as u64).wrapping_sub(CTX);
                    assert!(addr < 12 && addr % 4 == 0, "bad load at {addr}");
                    reg[d] = u64::from(ctx[addr as usize / 4]);
                }
                ALU32_AND_K => reg[d] = u64::from((reg[d] as u32) & (k as u32)),
                ALU32_RSH_K => reg[d] = u64::from((reg[d] as u32) >> (k as u32)),
                ALU32_MOV_X => reg[d] = u64::from(reg[s] as u32),
                ALU64_MOV_K => reg[d] = k,
                JMP_JEQ_K => jump(reg[d] == k),
                JMP_JNE_K => jump(reg[d] != k),
                JMP_JNE_X => jump(reg[d] != reg[s]),
                JMP_EXIT => return reg[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            assert!(pc < prog.len(), "fell off the program");
        }
        panic!("no exit");
    }

    fn allowed(rules: &[DeviceRule], dev_type: i32, access: i32, major: u32, minor: u32) -> bool {
        let prog = compile_device_program(rules).unwrap();
        run(&prog, dev_type, access, major, minor) == 1
    }

    #[test]
    fn encoding_little_endian() {
        let i = BpfInsn::new(LDX_MEM_W, 3, 1, 4, 0x0102_0304);
        assert_eq!(i.encode(false), [0x61, 0x13, 4, 0, 4, 3, 2, 1]);
        let j = BpfInsn::new(JMP_JNE_K, 4, 0, -2, -1);
        assert_eq!(
            j.encode(false),
            [0x55, 0x04, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn encoding_big_endian() {
        let i = BpfInsn::new(LDX_MEM_W, 3, 1, 4, 0x0102_0304);
        assert_eq!(i.encode(true), [0x61, 0x31, 0, 4, 1, 2, 3, 4]);
        let j = BpfInsn::new(JMP_JNE_X, 1, 3, 5, 0);
        assert_eq!(j.encode(true), [0x5d, 0x13, 0, 5, 0, 0, 0, 0]);
    }

    #[test]
    fn encoding_round_trips_and_native_matches_target() {
        let i = BpfInsn::new(ALU32_AND_K, 10, 7, -300, -123_456);
        for be in [false, true] {
            assert_eq!(BpfInsn::decode(i.encode(be), be), i);
        }
        let expected = if cfg!(target_endian = "big") {
            i.encode(true)
        } else {
            i.encode(false)
        };
        assert_eq!(i.to_ne_bytes(), expected);
    }

    #[test]
    fn cri_default_program_shape() {
        let prog = compile_device_program(&cri_default()).unwrap();
        // Prologue loads the context.
        assert_eq!(prog[0], BpfInsn::new(LDX_MEM_W, 2, 1, 0, 0));
        assert_eq!(prog[4], BpfInsn::new(LDX_MEM_W, 4, 1, 4, 0));
        assert_eq!(prog[5], BpfInsn::new(LDX_MEM_W, 5, 1, 8, 0));
        // First block is the last rule (c 136:* rwm): type check, major check, verdict.
        assert_eq!(prog[6], BpfInsn::new(JMP_JNE_K, 2, 0, 3, DEV_CHAR));
        assert_eq!(prog[7], BpfInsn::new(JMP_JNE_K, 4, 0, 2, 136));
        assert_eq!(prog[8], BpfInsn::new(ALU64_MOV_K, 0, 0, 0, 1));
        assert_eq!(prog[9], BpfInsn::new(JMP_EXIT, 0, 0, 0, 0));
        // Ends with the "deny all" block: verdict 0 without any check.
        let n = prog.len();
        assert_eq!(prog[n - 2], BpfInsn::new(ALU64_MOV_K, 0, 0, 0, 0));
        assert_eq!(prog[n - 1], BpfInsn::new(JMP_EXIT, 0, 0, 0, 0));
        // 6 prologue + 4 (136:*) + 7*5 (c x:y rwm) + 2*6 (c/b *:* m) + 2 (deny all)
        assert_eq!(n, 6 + 4 + 35 + 12 + 2);
        // Every jump stays inside the program.
        for (i, insn) in prog.iter().enumerate() {
            if insn.is_cond_jump() {
                let target = i as i64 + 1 + i64::from(insn.off);
                assert!(
                    insn.off > 0 && (target as usize) < n,
                    "jump {i} -> {target}"
                );
            }
        }
    }

    #[test]
    fn cri_default_decisions() {
        let rules = cri_default();
        assert!(allowed(&rules, DEV_CHAR, R | W, 1, 3), "/dev/null rw");
        assert!(allowed(&rules, DEV_CHAR, R, 1, 5), "/dev/zero r");
        assert!(allowed(&rules, DEV_CHAR, R | W, 136, 4), "/dev/pts/4");
        assert!(allowed(&rules, DEV_CHAR, R | W | M, 5, 2), "/dev/ptmx");
        assert!(!allowed(&rules, DEV_CHAR, R, 1, 1), "/dev/mem");
        assert!(!allowed(&rules, DEV_BLOCK, R, 8, 0), "sda read");
        assert!(allowed(&rules, DEV_BLOCK, M, 8, 0), "sda mknod");
        assert!(allowed(&rules, DEV_CHAR, M, 10, 200), "tun mknod");
        assert!(!allowed(&rules, DEV_CHAR, R | M, 10, 200), "tun read+mknod");
        assert!(
            !allowed(&rules, DEV_BLOCK, R, 1, 3),
            "block 1:3 is not /dev/null"
        );
    }

    #[test]
    fn privileged_allow_all() {
        let rules = vec![rule(true, DeviceKind::All, None, None, "rwm")];
        let prog = compile_device_program(&rules).unwrap();
        assert_eq!(prog.len(), 6 + 2, "no default-deny tail after a match-all");
        for (t, a, ma, mi) in [
            (DEV_CHAR, R | W | M, 1, 1),
            (DEV_BLOCK, R | W, 8, 0),
            (DEV_CHAR, W, 4000, 99),
        ] {
            assert!(allowed(&rules, t, a, ma, mi));
        }
    }

    #[test]
    fn last_match_wins_and_shadowed_rules_dropped() {
        use DeviceKind::*;
        // allow c 1:3, then deny all: everything denied, earlier rule dropped.
        let rules = vec![
            rule(true, Char, Some(1), Some(3), "rwm"),
            rule(false, All, None, None, "rwm"),
        ];
        assert!(!allowed(&rules, DEV_CHAR, R, 1, 3));
        assert_eq!(compile_device_program(&rules).unwrap().len(), 8);
        // deny c 1:3 w after allow c 1:* rwm: reads pass, writes don't.
        let rules = vec![
            rule(false, All, None, None, "rwm"),
            rule(true, Char, Some(1), None, "rwm"),
            rule(false, Char, Some(1), Some(3), "w"),
        ];
        assert!(allowed(&rules, DEV_CHAR, R, 1, 3));
        assert!(!allowed(&rules, DEV_CHAR, W, 1, 3));
        assert!(!allowed(&rules, DEV_CHAR, R | W, 1, 3));
        assert!(allowed(&rules, DEV_CHAR, R | W, 1, 5));
    }

    #[test]
    fn empty_list_and_empty_access_deny() {
        assert!(!allowed(&[], DEV_CHAR, R, 1, 3));
        let rules = vec![rule(true, DeviceKind::Char, Some(1), Some(3), "")];
        assert!(!allowed(&rules, DEV_CHAR, R, 1, 3));
        assert_eq!(compile_device_program(&rules).unwrap().len(), 8);
    }

    #[test]
    fn wildcard_type_with_numbers_matches_both_kinds() {
        let rules = vec![rule(true, DeviceKind::All, Some(7), None, "r")];
        assert!(allowed(&rules, DEV_CHAR, R, 7, 1));
        assert!(allowed(&rules, DEV_BLOCK, R, 7, 2));
        assert!(!allowed(&rules, DEV_BLOCK, W, 7, 2));
        assert!(!allowed(&rules, DEV_BLOCK, R, 8, 2));
    }

    #[test]
    fn rejects_bad_input() {
        use DeviceKind::*;
        for bad in [
            rule(true, Char, Some(-1), None, "r"),
            rule(true, Char, None, Some(-5), "r"),
            rule(true, Char, Some(1 << 40), None, "r"),
            rule(true, Char, Some(1), Some(3), "rwx"),
            rule(true, Char, Some(1), Some(3), "R"),
        ] {
            match compile_device_program(std::slice::from_ref(&bad)) {
                Err(Error::InvalidValue { field, .. }) => {
                    assert_eq!(field, "linux.resources.devices")
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        // Duplicated letters are harmless.
        assert!(compile_device_program(&[rule(true, Char, Some(1), Some(3), "rrw")]).is_ok());
    }
}
