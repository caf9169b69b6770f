//! The `bpf(2)` commands aya does not offer for objects known only at run
//! time: reading any map as bytes (aya's typed maps need the key and value
//! types at compile time), pinning by descriptor, and opening a link by id.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use aya::maps::{Map, MapData};

use ebpf_object::MapInfo;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;

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

/// `union bpf_attr` as `BPF_OBJ_PIN` uses it.
#[repr(C)]
#[derive(Default)]
struct PinAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

/// `union bpf_attr` as the `*_GET_FD_BY_ID` commands use it.
#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr)`; the result on success.
fn bpf<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<libc::c_long> {
    // SAFETY: attr is a valid, initialized bpf_attr prefix of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut A,
            std::mem::size_of::<A>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Pins the object behind `fd` (a map, program or link) at `path` on bpffs.
pub fn pin_fd(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    let mut attr = PinAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        ..PinAttr::default()
    };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// A file descriptor for the link with kernel id `id`.
pub fn link_fd(id: u32) -> io::Result<OwnedFd> {
    let mut attr = IdAttr {
        id,
        ..IdAttr::default()
    };
    let fd = bpf(BPF_LINK_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The data (and so the descriptor) behind any aya map.
pub fn map_data(m: &Map) -> &MapData {
    match m {
        Map::Array(d)
        | Map::ArrayOfMaps(d)
        | Map::BloomFilter(d)
        | Map::CgroupArray(d)
        | Map::CgroupStorage(d)
        | Map::CgrpStorage(d)
        | Map::CpuMap(d)
        | Map::DevMap(d)
        | Map::DevMapHash(d)
        | Map::HashMap(d)
        | Map::HashOfMaps(d)
        | Map::InodeStorage(d)
        | Map::LpmTrie(d)
        | Map::LruHashMap(d)
        | Map::PerCpuArray(d)
        | Map::PerCpuCgroupStorage(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::PerfEventArray(d)
        | Map::ProgramArray(d)
        | Map::Queue(d)
        | Map::ReusePortSockArray(d)
        | Map::RingBuf(d)
        | Map::SockHash(d)
        | Map::SockMap(d)
        | Map::SkStorage(d)
        | Map::Stack(d)
        | Map::StackTraceMap(d)
        | Map::Unsupported(d)
        | Map::XskMap(d) => d,
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
            Ok(_) => {}
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
            Ok(_) => {}
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
