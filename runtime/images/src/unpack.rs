//! Unpacking layer tars into overlayfs lower directories, safely.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::Error;

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    n: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// Removes a directory tree when dropped unless disarmed.
struct RemoveDirOnDrop(Option<PathBuf>);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Options for [`unpack_layer`].
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// chown entries to the uid/gid in the tar (needs root).
    pub preserve_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            preserve_owner: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Open a (possibly compressed) layer blob as a tar stream: gzip, zstd or plain tar, by magic.
fn open_decompressed(blob: &Path, layer: &str) -> Result<Box<dyn Read>, Error> {
    let mut f = fs::File::open(blob).map_err(|e| Error::io("open layer blob", blob, e))?;
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = f
            .read(&mut magic[got..])
            .map_err(|e| Error::io("read layer blob", blob, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let r = head.chain(f);
    if got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let d = ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| Error::Layer {
            layer: layer.to_string(),
            reason: format!("bad zstd stream: {e}"),
        })?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(r))
    }
}

/// Unpack the layer blob `blob` into the new directory `dest` (which must not exist), converting
/// OCI whiteouts to overlayfs form, and check the uncompressed stream's digest against `diff_id`.
/// On any error nothing is left at `dest`. Returns the uncompressed size.
pub fn unpack_layer(
    blob: &Path,
    dest: &Path,
    diff_id: &str,
    layer: &str,
    opts: UnpackOptions,
) -> Result<u64, Error> {
    let tmp = crate::registry::tmp_path(dest);
    fs::create_dir(&tmp).map_err(|e| Error::io("create layer directory", &tmp, e))?;
    let mut guard = RemoveDirOnDrop(Some(tmp.clone()));
    let reader = HashingReader {
        inner: open_decompressed(blob, layer)?,
        hash: Sha256::new(),
        n: 0,
    };
    let mut ar = tar::Archive::new(reader);
    let lerr = |reason: String| Error::Layer {
        layer: layer.to_string(),
        reason,
    };
    let mut dirs: Vec<(PathBuf, u64)> = vec![];
    {
        let entries = ar
            .entries()
            .map_err(|e| lerr(format!("bad tar stream: {e}")))?;
        for ent in entries {
            let ent = ent.map_err(|e| lerr(format!("bad tar stream: {e}")))?;
            unpack_entry(ent, &tmp, layer, opts, &mut dirs)?;
        }
    }
    let mut reader = ar.into_inner();
    io::copy(&mut reader, &mut io::sink())
        .map_err(|e| lerr(format!("bad layer stream after tar end: {e}")))?;
    let actual = format!("sha256:{}", hex::encode(reader.hash.finalize()));
    if actual != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("uncompressed layer {layer} (diff_id)"),
            expected: diff_id.to_string(),
            actual,
        });
    }
    // Directory mtimes last: creating children changed them.
    for (d, mtime) in dirs.iter().rev() {
        set_mtime(d, *mtime);
    }
    fs::rename(&tmp, dest).map_err(|e| Error::io("rename layer directory", dest, e))?;
    guard.0 = None;
    Ok(reader.n)
}

/// Split a tar path into safe normal components, refusing `..`.
fn safe_components(p: &Path, layer: &str) -> Result<Vec<PathBuf>, Error> {
    let mut out = vec![];
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(PathBuf::from(s)),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::UnsafeEntry {
                    layer: layer.to_string(),
                    entry: p.display().to_string(),
                    reason: "path has a '..' component".to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Walk/create the parent directories of `comps` under `root` without following symlinks.
fn ensure_parents(
    root: &Path,
    comps: &[PathBuf],
    entry: &Path,
    layer: &str,
) -> Result<PathBuf, Error> {
    let mut cur = root.to_path_buf();
    for c in comps {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::UnsafeEntry {
                    layer: layer.to_string(),
                    entry: entry.display().to_string(),
                    reason: format!("parent {} is a symlink", c.display()),
                });
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafeEntry {
                    layer: layer.to_string(),
                    entry: entry.display().to_string(),
                    reason: format!("parent {} is not a directory", c.display()),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).map_err(|e| Error::io("create directory", &cur, e))?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                    .map_err(|e| Error::io("chmod", &cur, e))?;
            }
            Err(e) => return Err(Error::io("lstat", &cur, e)),
        }
    }
    Ok(cur)
}

/// Remove whatever is at `p` (not following symlinks); keep it if `keep_dir` and it is a dir.
fn clear(p: &Path, keep_dir: bool) -> Result<(), Error> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            if !keep_dir {
                fs::remove_dir_all(p).map_err(|e| Error::io("remove", p, e))?;
            }
        }
        Ok(_) => fs::remove_file(p).map_err(|e| Error::io("remove", p, e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("lstat", p, e)),
    }
    Ok(())
}

fn cpath(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::io(
            "convert path",
            p,
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })
}

/// Set an extended attribute on `p` itself (not a symlink target).
#[allow(unsafe_code)]
pub(crate) fn lsetxattr(p: &Path, name: &[u8], value: &[u8]) -> Result<(), Error> {
    let cp = cpath(p)?;
    let cn = CString::new(name)
        .map_err(|_| Error::io("setxattr", p, io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: cp and cn are valid NUL-terminated strings and value is a valid buffer of
    // value.len() bytes, all alive for the duration of the call.
    let r = unsafe {
        libc::lsetxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(Error::io("setxattr", p, io::Error::last_os_error()));
    }
    Ok(())
}

fn set_mtime(p: &Path, mtime: u64) {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let t = TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
    let _ = utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    );
}

fn unpack_entry<R: Read>(
    mut ent: tar::Entry<'_, R>,
    root: &Path,
    layer: &str,
    opts: UnpackOptions,
    dirs: &mut Vec<(PathBuf, u64)>,
) -> Result<(), Error> {
    let ty = ent.header().entry_type();
    if ty.is_pax_global_extensions()
        || ty.is_pax_local_extensions()
        || ty.is_gnu_longname()
        || ty.is_gnu_longlink()
    {
        return Ok(());
    }
    let raw = ent
        .path()
        .map_err(|e| Error::Layer {
            layer: layer.to_string(),
            reason: format!("bad entry path: {e}"),
        })?
        .into_owned();
    let comps = safe_components(&raw, layer)?;
    let Some((name, parents)) = comps.split_last() else {
        return Ok(()); // the layer root itself
    };
    let parent = ensure_parents(root, parents, &raw, layer)?;
    let name_b = name.as_os_str().as_bytes();
    // Whiteouts.
    if name_b == b".wh..wh..opq" {
        return lsetxattr(&parent, b"trusted.overlay.opaque", b"y");
    }
    if let Some(hidden) = name_b.strip_prefix(b".wh.") {
        if hidden.starts_with(b".wh.") || hidden.is_empty() {
            return Ok(()); // other AUFS metadata (.wh..wh.plnk etc.)
        }
        let target = parent.join(std::ffi::OsStr::from_bytes(hidden));
        clear(&target, false)?;
        nix::sys::stat::mknod(
            &target,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .map_err(|e| Error::io("mknod whiteout", &target, io::Error::from(e)))?;
        return Ok(());
    }
    let path = parent.join(name);
    let h = ent.header();
    let mode = h.mode().unwrap_or(0o644) & 0o7777;
    let mut uid = h.uid().unwrap_or(0);
    let mut gid = h.gid().unwrap_or(0);
    let mtime = h.mtime().unwrap_or(0);
    // PAX records: xattrs, and uid/gid too large for the header's octal fields.
    let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = vec![];
    if let Ok(Some(exts)) = ent.pax_extensions() {
        for x in exts.flatten() {
            let num = || {
                std::str::from_utf8(x.value_bytes())
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            match x.key_bytes() {
                b"uid" => uid = num().unwrap_or(uid),
                b"gid" => gid = num().unwrap_or(gid),
                k => {
                    if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((name.to_vec(), x.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    let dev = (
        ent.header().device_major().ok().flatten().unwrap_or(0),
        ent.header().device_minor().ok().flatten().unwrap_or(0),
    );
    let mut is_dir = false;
    let mut is_symlink = false;
    match ty {
        tar::EntryType::Directory => {
            clear(&path, true)?;
            if !path.is_dir() {
                fs::create_dir(&path).map_err(|e| Error::io("create directory", &path, e))?;
            }
            is_dir = true;
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            clear(&path, false)?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io("create file", &path, e))?;
            io::copy(&mut ent, &mut f).map_err(|e| Error::Layer {
                layer: layer.to_string(),
                reason: format!("reading {}: {e}", raw.display()),
            })?;
        }
        tar::EntryType::Symlink => {
            let target = ent
                .link_name()
                .ok()
                .flatten()
                .ok_or_else(|| Error::Layer {
                    layer: layer.to_string(),
                    reason: format!("symlink {} without a target", raw.display()),
                })?
                .into_owned();
            clear(&path, false)?;
            std::os::unix::fs::symlink(&target, &path)
                .map_err(|e| Error::io("symlink", &path, e))?;
            is_symlink = true;
        }
        tar::EntryType::Link => {
            let target = ent
                .link_name()
                .ok()
                .flatten()
                .ok_or_else(|| Error::Layer {
                    layer: layer.to_string(),
                    reason: format!("hardlink {} without a target", raw.display()),
                })?
                .into_owned();
            let tcomps = safe_components(&target, layer)?;
            let Some((tname, tparents)) = tcomps.split_last() else {
                return Err(Error::UnsafeEntry {
                    layer: layer.to_string(),
                    entry: raw.display().to_string(),
                    reason: "hardlink to the layer root".to_string(),
                });
            };
            // The target's parents must be real directories inside the layer.
            let mut tp = root.to_path_buf();
            for c in tparents {
                tp.push(c);
                match fs::symlink_metadata(&tp) {
                    Ok(m) if m.is_dir() => {}
                    _ => {
                        return Err(Error::UnsafeEntry {
                            layer: layer.to_string(),
                            entry: raw.display().to_string(),
                            reason: format!(
                                "hardlink target {} is not inside the layer",
                                target.display()
                            ),
                        });
                    }
                }
            }
            let tpath = tp.join(tname);
            if fs::symlink_metadata(&tpath)
                .map(|m| m.is_dir())
                .unwrap_or(true)
            {
                return Err(Error::UnsafeEntry {
                    layer: layer.to_string(),
                    entry: raw.display().to_string(),
                    reason: format!(
                        "hardlink target {} does not exist in the layer or is a directory",
                        target.display()
                    ),
                });
            }
            if tpath != path {
                clear(&path, false)?;
                fs::hard_link(&tpath, &path).map_err(|e| Error::io("hardlink", &path, e))?;
            }
            return Ok(()); // shares the target's metadata
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            use nix::sys::stat::{Mode, SFlag, makedev, mknod};
            clear(&path, false)?;
            let kind = match ty {
                tar::EntryType::Char => SFlag::S_IFCHR,
                tar::EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            mknod(
                &path,
                kind,
                Mode::from_bits_truncate(0o600),
                makedev(u64::from(dev.0), u64::from(dev.1)),
            )
            .map_err(|e| Error::io("mknod", &path, io::Error::from(e)))?;
        }
        other => {
            tracing::warn!(layer, entry = %raw.display(), ?other, "skipping unsupported tar entry type");
            return Ok(());
        }
    }
    if opts.preserve_owner {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &path,
            Some(nix::unistd::Uid::from_raw(
                u32::try_from(uid).unwrap_or(u32::MAX),
            )),
            Some(nix::unistd::Gid::from_raw(
                u32::try_from(gid).unwrap_or(u32::MAX),
            )),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("chown", &path, io::Error::from(e)))?;
    }
    if !is_symlink {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", &path, e))?;
    }
    for (k, v) in &xattrs {
        if let Err(e) = lsetxattr(&path, k, v) {
            tracing::warn!(layer, error = %e, "could not set xattr");
        }
    }
    if is_dir {
        dirs.push((path, mtime));
    } else {
        set_mtime(&path, mtime);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};

    /// Hand-built tar entries: (path, type, body or link target).
    pub(crate) enum E<'a> {
        Dir(&'a str),
        File(&'a str, &'a [u8]),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    /// Build a tar with raw header names (no sanitising, so `..` entries can be made).
    pub(crate) fn build_tar(entries: &[E<'_>]) -> Vec<u8> {
        let mut out = vec![];
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, ty, body, link): (&str, tar::EntryType, &[u8], Option<&str>) = match e {
                E::Dir(n) => (n, tar::EntryType::Directory, b"", None),
                E::File(n, b) => (n, tar::EntryType::Regular, b, None),
                E::Sym(n, t) => (n, tar::EntryType::Symlink, b"", Some(t)),
                E::Hard(n, t) => (n, tar::EntryType::Link, b"", Some(t)),
            };
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                if let Some(l) = link {
                    gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
                }
            }
            h.set_entry_type(ty);
            h.set_size(body.len() as u64);
            h.set_mode(if matches!(e, E::Dir(_)) { 0o755 } else { 0o644 });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(body);
            let pad = (512 - body.len() % 512) % 512;
            out.extend(std::iter::repeat_n(0u8, pad));
        }
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }

    pub(crate) fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn sha(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    fn unpack(tar: &[u8], compress: bool) -> (tempfile::TempDir, Result<u64, Error>) {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        let data = if compress { gzip(tar) } else { tar.to_vec() };
        fs::write(&blob, data).unwrap();
        let r = unpack_layer(
            &blob,
            &dir.path().join("layer"),
            &sha(tar),
            "test",
            UnpackOptions::default(),
        );
        (dir, r)
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn files_dirs_links() {
        let t = build_tar(&[
            E::Dir("etc/"),
            E::File("etc/hosts", b"127.0.0.1 x\n"),
            E::File("bin/busybox", b"ELF"),
            E::Sym("bin/sh", "/bin/busybox"),
            E::Sym("lnk", "../../../../etc"),
            E::Hard("bin/ls", "bin/busybox"),
        ]);
        let (d, r) = unpack(&t, true);
        assert_eq!(r.unwrap(), t.len() as u64);
        let l = d.path().join("layer");
        assert_eq!(fs::read(l.join("etc/hosts")).unwrap(), b"127.0.0.1 x\n");
        assert_eq!(
            fs::read_link(l.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::read_link(l.join("lnk")).unwrap(),
            Path::new("../../../../etc")
        );
        let a = fs::metadata(l.join("bin/ls")).unwrap();
        let b = fs::metadata(l.join("bin/busybox")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.mode() & 0o7777, 0o644);
        assert_eq!(a.mtime(), 1_700_000_000);
        assert_eq!(fs::metadata(l.join("etc")).unwrap().mtime(), 1_700_000_000);
        // the temp dir is gone, only blob + layer remain
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn zstd_layer_accepted() {
        let t = build_tar(&[E::File("z", b"zstd!")]);
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        let z =
            ruzstd::encoding::compress_to_vec(&t[..], ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(&z[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        fs::write(&blob, z).unwrap();
        let n = unpack_layer(
            &blob,
            &dir.path().join("layer"),
            &sha(&t),
            "l",
            UnpackOptions::default(),
        )
        .unwrap();
        assert_eq!(n, t.len() as u64);
        assert_eq!(fs::read(dir.path().join("layer/z")).unwrap(), b"zstd!");
    }

    #[test]
    fn pax_owner_and_xattrs() {
        if !is_root() {
            eprintln!("skipping: chown and trusted.* xattrs need root");
            return;
        }
        let mut b = tar::Builder::new(vec![]);
        b.append_pax_extensions([
            ("uid", &b"3000000"[..]),
            ("gid", &b"3000001"[..]),
            ("SCHILY.xattr.user.test", &b"v"[..]),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o4755);
        b.append_data(&mut h, "suid", &b"x"[..]).unwrap();
        let t = b.into_inner().unwrap();
        let (d, r) = unpack(&t, true);
        r.unwrap();
        let p = d.path().join("layer/suid");
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
        assert_eq!(m.mode() & 0o7777, 0o4755, "setuid kept after chown");
        let mut buf = [0u8; 4];
        let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
        let cn = CString::new("user.test").unwrap();
        #[allow(unsafe_code)]
        // SAFETY: valid C strings and a 4-byte buffer.
        let n = unsafe {
            libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if n < 0 {
            eprintln!("user xattrs unsupported on this filesystem: not checked");
        } else {
            assert_eq!(&buf[..1], b"v");
        }
    }

    #[test]
    fn plain_tar_accepted() {
        let t = build_tar(&[E::File("a", b"x")]);
        let (d, r) = unpack(&t, false);
        r.unwrap();
        assert_eq!(fs::read(d.path().join("layer/a")).unwrap(), b"x");
    }

    fn assert_unsafe(entries: &[E<'_>]) {
        let t = build_tar(entries);
        let (d, r) = unpack(&t, true);
        assert!(matches!(r, Err(Error::UnsafeEntry { .. })), "got {r:?}");
        // nothing left but the blob; nothing written next to the layer
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("blob")]);
    }

    #[test]
    fn rejects_dotdot() {
        assert_unsafe(&[E::File("../x", b"evil")]);
        assert_unsafe(&[E::File("/abs/../../x", b"evil")]);
        assert_unsafe(&[E::Dir("a/"), E::File("a/../../x", b"evil")]);
    }

    #[test]
    fn rejects_write_through_symlink() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap().to_string();
        assert_unsafe(&[E::Sym("s", &target), E::File("s/pwned", b"evil")]);
        assert!(!outside.path().join("pwned").exists());
        assert_unsafe(&[E::Sym("r", "../.."), E::File("r/pwned", b"evil")]);
    }

    #[test]
    fn file_replacing_symlink_does_not_follow_it() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, b"orig").unwrap();
        let t = build_tar(&[E::Sym("f", victim.to_str().unwrap()), E::File("f", b"new")]);
        let (d, r) = unpack(&t, true);
        r.unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"orig");
        let m = fs::symlink_metadata(d.path().join("layer/f")).unwrap();
        assert!(m.is_file());
    }

    #[test]
    fn rejects_hardlink_outside() {
        assert_unsafe(&[E::Hard("h", "../../etc/passwd")]);
        assert_unsafe(&[E::Hard("h", "/etc/../../etc/passwd")]);
        // absolute target names are relative to the layer root: missing there
        let t = build_tar(&[E::Hard("h", "/etc/passwd")]);
        let (_d, r) = unpack(&t, true);
        assert!(matches!(r, Err(Error::UnsafeEntry { .. })), "got {r:?}");
        // through a symlinked dir
        assert_unsafe(&[E::Sym("s", "/etc"), E::Hard("h", "s/passwd")]);
    }

    #[test]
    fn whiteouts_become_overlay_form() {
        if !is_root() {
            eprintln!("skipping: mknod and trusted.* xattrs need root");
            return;
        }
        let t = build_tar(&[
            E::Dir("d/"),
            E::File("d/.wh..wh..opq", b""),
            E::File("d/keep", b"k"),
            E::File(".wh.gone", b""),
        ]);
        let (d, r) = unpack(&t, true);
        r.unwrap();
        let l = d.path().join("layer");
        let m = fs::symlink_metadata(l.join("gone")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!l.join(".wh.gone").exists());
        assert!(!l.join("d/.wh..wh..opq").exists());
        let mut buf = [0u8; 8];
        let cp = CString::new(l.join("d").as_os_str().as_bytes()).unwrap();
        let cn = CString::new("trusted.overlay.opaque").unwrap();
        #[allow(unsafe_code)]
        // SAFETY: valid C strings and an 8-byte buffer.
        let n = unsafe {
            libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        assert_eq!(n, 1, "opaque xattr missing");
        assert_eq!(buf[0], b'y');
    }

    #[test]
    fn diff_id_mismatch_rejected() {
        let t = build_tar(&[E::File("a", b"x")]);
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, gzip(&t)).unwrap();
        let wrong = sha(b"something else");
        let r = unpack_layer(
            &blob,
            &dir.path().join("layer"),
            &wrong,
            "l",
            UnpackOptions::default(),
        );
        assert!(matches!(r, Err(Error::DigestMismatch { .. })), "got {r:?}");
        assert!(!dir.path().join("layer").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn malformed_gzip_is_an_error() {
        let t = build_tar(&[E::File("a", &[7u8; 5000])]);
        let mut gz = gzip(&t);
        gz.truncate(gz.len() / 2);
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, gz).unwrap();
        let r = unpack_layer(
            &blob,
            &dir.path().join("layer"),
            &sha(&t),
            "l",
            UnpackOptions::default(),
        );
        assert!(matches!(r, Err(Error::Layer { .. })), "got {r:?}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
