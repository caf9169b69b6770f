//! Reading any map as bytes (keys and values of sizes known only at run
//! time), through the `bpf(2)` map commands. aya's typed maps need the key
//! and value types at compile time.

use std::io;
use std::os::fd::RawFd;

use ebpf_object::MapInfo;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// `union bpf_attr` as the map element commands use it.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut ElemAttr) -> io::Result<()> {
    // SAFETY: attr is a valid, initialized bpf_attr prefix of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut ElemAttr,
            std::mem::size_of::<ElemAttr>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A key and its values (one per possible CPU for per-CPU maps).
pub type Entry = (Vec<u8>, Vec<Vec<u8>>);

/// Every entry of the map: its key and its value, one value per possible
/// CPU for per-CPU maps.
pub fn entries(fd: RawFd, info: &MapInfo, per_cpu: bool) -> io::Result<Vec<Entry>> {
    let key_size = info.key_size as usize;
    let value_size = info.value_size as usize;
    let (cpus, stride) = if per_cpu {
        let n = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        (n, value_size.div_ceil(8) * 8)
    } else {
        (1, value_size)
    };
    let mut out = Vec::new();
    let mut key = vec![0u8; key_size];
    let mut next = vec![0u8; key_size];
    let mut value = vec![0u8; stride * cpus];
    let mut first = true;
    loop {
        let mut attr = ElemAttr {
            map_fd: fd as u32,
            key: if first { 0 } else { key.as_ptr() as u64 },
            value: next.as_mut_ptr() as u64,
            ..ElemAttr::default()
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(e),
        }
        first = false;
        std::mem::swap(&mut key, &mut next);
        let mut attr = ElemAttr {
            map_fd: fd as u32,
            key: key.as_ptr() as u64,
            value: value.as_mut_ptr() as u64,
            ..ElemAttr::default()
        };
        match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(()) => {}
            // Deleted between the two calls.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        }
        let values = (0..cpus)
            .map(|c| value[c * stride..c * stride + value_size].to_vec())
            .collect();
        out.push((key.clone(), values));
    }
    Ok(out)
}
