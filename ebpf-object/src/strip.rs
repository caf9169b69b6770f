//! Debug info out of the packaged bytecode: the DWARF of a `-g` build is
//! most of an object (a 4 KiB program in a 250 KiB file) and no loader
//! reads it; BTF and BTF.ext, which loaders do read, stay.
//!
//! The `.debug_*` sections and their relocation sections keep their headers
//! but lose their bytes (size 0), and the other sections are laid out again
//! one after the other: section indices, symbols and relocations are
//! untouched, so nothing a loader reads can change.

use object::Endianness;
use object::elf::{ET_REL, FileHeader64, SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA};
use object::read::elf::{FileHeader as _, SectionHeader as _};

use crate::ObjectError;

/// Size of an ELF64 header and of an ELF64 section header.
const EHDR_SIZE: usize = 64;
const SHDR_SIZE: usize = 64;
/// Where `e_shoff` is in the ELF header, and `sh_offset` and `sh_size` in a
/// section header.
const E_SHOFF: usize = 40;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;

/// `data` without the bytes of its `.debug_*` sections and of their
/// relocations; everything else unchanged (an object without them is
/// returned as it is).
pub fn strip_debug(data: &[u8]) -> Result<Vec<u8>, ObjectError> {
    let malformed =
        |why: &str| ObjectError::Malformed(format!("cannot strip its debug info: {why}"));
    let header = FileHeader64::<Endianness>::parse(data).map_err(|e| malformed(&e.to_string()))?;
    let endian = header.endian().map_err(|e| malformed(&e.to_string()))?;
    if header.e_type(endian) != ET_REL || header.e_phnum(endian) != 0 {
        return Err(malformed("not a relocatable object"));
    }
    if usize::from(header.e_shentsize(endian)) != SHDR_SIZE {
        return Err(malformed("unexpected section header size"));
    }
    let sections = header
        .sections(endian, data)
        .map_err(|e| malformed(&e.to_string()))?;
    let is_debug = |index: usize| -> bool {
        sections
            .section(object::SectionIndex(index))
            .ok()
            .and_then(|s| sections.section_name(endian, s).ok())
            .is_some_and(|n| n.starts_with(b".debug_"))
    };
    let dropped: Vec<bool> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ty = s.sh_type(endian);
            is_debug(i)
                || ((ty == SHT_REL || ty == SHT_RELA) && is_debug(s.sh_info(endian) as usize))
        })
        .collect();
    if !dropped.contains(&true) {
        return Ok(data.to_vec());
    }

    let mut out = Vec::with_capacity(data.len() / 2);
    out.extend_from_slice(
        data.get(..EHDR_SIZE)
            .ok_or_else(|| malformed("cut short"))?,
    );
    let mut placed = Vec::with_capacity(sections.len());
    for (i, s) in sections.iter().enumerate() {
        let ty = s.sh_type(endian);
        let (offset, size) = (s.sh_offset(endian), s.sh_size(endian));
        if ty == SHT_NULL || ty == SHT_NOBITS {
            placed.push((offset, size));
        } else if dropped[i] {
            placed.push((out.len() as u64, 0));
        } else {
            let align = s.sh_addralign(endian).clamp(1, 4096) as usize;
            out.resize(out.len().next_multiple_of(align), 0);
            let bytes = s
                .data(endian, data)
                .map_err(|_| malformed("a section lies outside the file"))?;
            placed.push((out.len() as u64, size));
            out.extend_from_slice(bytes);
        }
    }
    out.resize(out.len().next_multiple_of(8), 0);
    let shoff = out.len() as u64;
    let table_at = header.e_shoff(endian) as usize;
    let table = table_at
        .checked_add(sections.len() * SHDR_SIZE)
        .and_then(|end| data.get(table_at..end))
        .ok_or_else(|| malformed("the section headers lie outside the file"))?;
    let put = |bytes: &mut [u8], at: usize, value: u64| {
        let v = match endian {
            Endianness::Little => value.to_le_bytes(),
            Endianness::Big => value.to_be_bytes(),
        };
        bytes[at..at + 8].copy_from_slice(&v);
    };
    for (i, raw) in table.chunks_exact(SHDR_SIZE).enumerate() {
        let mut raw = <[u8; SHDR_SIZE]>::try_from(raw).expect("chunks of the header size");
        let (offset, size) = placed[i];
        put(&mut raw, SH_OFFSET, offset);
        put(&mut raw, SH_SIZE, size);
        out.extend_from_slice(&raw);
    }
    put(&mut out, E_SHOFF, shoff);
    Ok(out)
}
