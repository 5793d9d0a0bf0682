//! User and group names and ids, looked up with the reentrant libc calls.

use std::ffi::{CStr, CString};

/// Runs a reentrant passwd/group lookup with a growing buffer; `read` takes the answer.
pub(super) fn lookup<T, R>(
    call: impl Fn(*mut T, *mut libc::c_char, usize, *mut *mut T) -> libc::c_int,
    read: impl Fn(&T) -> Option<R>,
) -> Option<R> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd/group struct is a valid value to be overwritten.
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let rc = call(&mut record, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return read(&record);
    }
}

/// Reads a C string owned by a passwd/group record.
pub(super) fn c_text(ptr: *const libc::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the lookup succeeded, so the pointer is a NUL-terminated string in its buffer.
    let text = unsafe { CStr::from_ptr(ptr) }.to_str().ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}

pub(crate) fn user_name(uid: u32) -> Option<String> {
    // SAFETY: the pointers come from `lookup` and are valid for the call.
    lookup(|p, b, n, r| unsafe { libc::getpwuid_r(uid, p, b, n, r) }, |p: &libc::passwd| c_text(p.pw_name))
}

pub(crate) fn group_name(gid: u32) -> Option<String> {
    // SAFETY: as above.
    lookup(|g, b, n, r| unsafe { libc::getgrgid_r(gid, g, b, n, r) }, |g: &libc::group| c_text(g.gr_name))
}

pub(crate) fn uid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: as above; `name` outlives the call.
    lookup(|p, b, n, r| unsafe { libc::getpwnam_r(name.as_ptr(), p, b, n, r) }, |p: &libc::passwd| Some(p.pw_uid))
}

pub(crate) fn gid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: as above.
    lookup(|g, b, n, r| unsafe { libc::getgrnam_r(name.as_ptr(), g, b, n, r) }, |g: &libc::group| Some(g.gr_gid))
}
