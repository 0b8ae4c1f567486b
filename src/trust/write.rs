//! Writing an emission: everything checked first, then each file staged and renamed
//! into place, no symbolic link followed below the output directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Emission;
use crate::error::{Error, Field, Result};

/// Checks that `out` can hold the emission: it is (or can be created as) a writable
/// directory, and no emitted path collides with a directory or a non-directory.
/// Returns the absolute output directory. Nothing is created.
pub fn check_out_dir(out: &Path) -> Result<PathBuf> {
    let shown = out.display().to_string();
    let abs = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
    let mut existing = abs.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    let meta = std::fs::metadata(existing).map_err(|e| Error::io(existing, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            crate::error::Field::OutputDir,
            shown,
            format!("{} exists and is not a directory", existing.display()),
        ));
    }
    // Probe writability without leaving anything behind (an unnamed temporary file).
    if let Err(e) = tempfile::tempfile_in(existing) {
        return Err(Error::invalid(
            crate::error::Field::OutputDir,
            shown,
            format!("{} is not writable ({e})", existing.display()),
        ));
    }
    Ok(abs)
}

/// The mode of the directories trust output creates: public (0755), so that a web
/// server's workers can read `.well-known` and the certificates; keys are 0600 files.
pub const OUT_DIR_MODE: u32 = 0o755;

/// The prefix of the temporary files fedca stages its output in, next to their target.
pub const TMP_PREFIX: &str = ".tmp-fedca-";

/// Writes an emission under `out` (absolute, checked with [`check_out_dir`]).
///
/// Every check comes before the first write: no file may hold a private key (other
/// than the Kubernetes Secret's server key), and no path below `out` may be a
/// symbolic link, a directory where a file goes or a file where a directory goes.
/// Then, under an exclusive lock on `out`, each file is staged in a `.tmp-fedca-*` file
/// created with its mode (0600 for keys) beside its target and renamed into place,
/// each directory below `out` opened with `O_NOFOLLOW` relative to its parent (so a
/// link planted meanwhile is refused too) and created 0755. Temporary files a killed
/// run left in those directories are removed first.
pub fn write_emission(out: &Path, emission: &Emission) -> Result<Vec<PathBuf>> {
    write_emission_with(out, emission, true)
}

/// [`write_emission`] without an fsync per file and directory: the caller makes the
/// written paths durable at once (`fedca apply`: one `syncfs` for every bundle).
pub fn write_emission_unsynced(out: &Path, emission: &Emission) -> Result<Vec<PathBuf>> {
    write_emission_with(out, emission, false)
}

fn write_emission_with(out: &Path, emission: &Emission, sync: bool) -> Result<Vec<PathBuf>> {
    let shown = out.display().to_string();
    for f in &emission.files {
        f.refuse_private_keys()?;
        check_below_out(out, &f.path)?;
    }
    create_public_dirs(out)?;
    let root = std::fs::File::from(
        rustix::fs::open(
            out,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io(out, e.into()))?,
    );
    // Two runs into the same directory would sweep each other's staged files.
    crate::store::wait_for_lock(&root, out, crate::store::default_lock_timeout())?;
    let mut swept = BTreeSet::new();
    let mut written = Vec::with_capacity(emission.files.len());
    for f in &emission.files {
        let target = out.join(&f.path);
        let mut dir = root.try_clone().map_err(|e| Error::io(out, e))?;
        let mut dir_path = out.to_path_buf();
        let mut parts: Vec<&std::ffi::OsStr> = f.path.iter().collect();
        let name = parts
            .pop()
            .ok_or_else(|| Error::Internal(format!("empty output path under {shown}")))?;
        for part in parts {
            dir_path.push(part);
            dir = open_subdir(&dir, part, &dir_path)?;
        }
        if swept.insert(dir_path.clone()) {
            sweep_staged(&dir, &dir_path)?;
        }
        write_at(&dir, &dir_path, name, f.contents.as_bytes(), f.mode, sync)?;
        written.push(target);
    }
    Ok(written)
}

/// Creates `out` and its missing parents 0755 whatever the umask (existing
/// directories are left as they are).
pub(crate) fn create_public_dirs(out: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let missing: Vec<&Path> = out.ancestors().take_while(|p| !p.exists()).collect();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(OUT_DIR_MODE)
        .create(out)
        .map_err(|e| Error::io(out, e))?;
    for d in missing {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(OUT_DIR_MODE))
            .map_err(|e| Error::io(d, e))?;
    }
    Ok(())
}

/// Refuses a symbolic link at any component of `rel` below `out`, a directory at its
/// last component and a non-directory at any other.
fn check_below_out(out: &Path, rel: &Path) -> Result<()> {
    let bad = |rule: String| {
        Error::invalid(
            crate::error::Field::OutputDir,
            out.display().to_string(),
            rule,
        )
    };
    let parts: Vec<_> = rel.components().collect();
    let target = out.join(rel);
    let mut cur = out.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        if !matches!(part, std::path::Component::Normal(_)) {
            return Err(Error::Internal(format!(
                "output path {} is not plain",
                rel.display()
            )));
        }
        cur.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(bad(format!(
                    "{} is a symbolic link; fedca follows no link below {} (a planted link would send its output elsewhere): remove it",
                    cur.display(),
                    Field::OutputDir.mention()
                )))
            }
            Ok(m) if last && m.is_dir() => {
                return Err(bad(format!(
                    "{} is a directory; fedca would write a file there",
                    cur.display()
                )))
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(bad(format!(
                    "{} is not a directory; fedca would write {} inside it",
                    cur.display(),
                    target.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io(&cur, e)),
        }
    }
    Ok(())
}

fn link_refused(path: &Path, e: rustix::io::Errno) -> Error {
    if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
        Error::io(
            path,
            std::io::Error::other(format!(
                "is a symbolic link or not a directory (changed while fedca ran); fedca follows no link below {}",
                Field::OutputDir.mention()
            )),
        )
    } else {
        Error::io(path, e.into())
    }
}

/// Opens (creating it 0755 if missing, whatever the umask) the directory `name` in `dir`, refusing a
/// symbolic link.
fn open_subdir(dir: &std::fs::File, name: &std::ffi::OsStr, path: &Path) -> Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => return Ok(fd.into()),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(link_refused(path, e)),
    }
    let created = match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(OUT_DIR_MODE)) {
        Ok(()) => true,
        Err(rustix::io::Errno::EXIST) => false,
        Err(e) => return Err(Error::io(path, e.into())),
    };
    let fd =
        rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|e| link_refused(path, e))?;
    if created {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(OUT_DIR_MODE))
            .map_err(|e| Error::io(path, e.into()))?;
    }
    Ok(fd.into())
}

/// Whether `name` is a temporary file fedca stages output in: `.tmp-fedca-*`, or
/// `.tmp-` plus six random letters and digits, the form earlier versions used.
fn is_staged_name(name: &[u8]) -> bool {
    name.starts_with(TMP_PREFIX.as_bytes())
        || (name.len() == 11
            && name.starts_with(b".tmp-")
            && name[5..].iter().all(u8::is_ascii_alphanumeric))
}

/// Removes the regular files a killed run staged in `dir` (never links or directories).
fn sweep_staged(dir: &std::fs::File, path: &Path) -> Result<()> {
    use rustix::fs::{AtFlags, FileType};
    let entries = rustix::fs::Dir::read_from(dir).map_err(|e| Error::io(path, e.into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(path, e.into()))?;
        let name = entry.file_name();
        if !is_staged_name(name.to_bytes()) {
            continue;
        }
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
            match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(Error::io(path, e.into())),
            }
        }
    }
    Ok(())
}

/// Writes `name` in `dir` atomically: a temporary file created with `mode` (no link
/// followed), written and fsynced, renamed over `name` unless that is a link or a
/// directory, then the directory fsynced.
fn write_at(
    dir: &std::fs::File,
    dir_path: &Path,
    name: &std::ffi::OsStr,
    contents: &[u8],
    mode: u32,
    sync: bool,
) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let target = dir_path.join(name);
    let tmp = format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| Error::io(&dir_path.join(&tmp), e.into()))?;
    let mut file = std::fs::File::from(fd);
    let staged = (|| -> Result<()> {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|_| file.write_all(contents))
            .and_then(|_| if sync { file.sync_all() } else { Ok(()) })
            .map_err(|e| Error::io(&target, e))?;
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => {
                    return Err(Error::io(
                        &target,
                        std::io::Error::other(format!(
                            "is a symbolic link (planted while fedca ran); fedca follows no link below {}",
                            Field::OutputDir.mention()
                        )),
                    ))
                }
                FileType::Directory => {
                    return Err(Error::io(
                        &target,
                        std::io::Error::other("is a directory; fedca would write a file there"),
                    ))
                }
                _ => {}
            },
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(Error::io(&target, e.into())),
        }
        rustix::fs::renameat(dir, tmp.as_str(), dir, name).map_err(|e| Error::io(&target, e.into()))
    })();
    if let Err(e) = staged {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        return Err(e);
    }
    if sync {
        dir.sync_all().map_err(|e| Error::io(dir_path, e))?;
    }
    Ok(())
}
