//! Record types from DWARF: clang leaves a struct out of the object's BTF
//! when the program only uses it through a local variable or a pointer
//! (`e = bpf_ringbuf_reserve(...)`, `struct event e = {}` sent with
//! `bpf_perf_event_output`), but the DWARF of a `-g` build describes it.
//! This module finds a struct by name there and describes it as
//! [`TypeDesc`], the same description BTF gives.
//!
//! The bytes are hostile (an image's object): gimli reads them with bounds
//! checks, every reference is followed at most [`MAX_DEPTH`] deep, and at
//! most [`MAX_FIELDS`] members and enumerators are read in all.

use gimli::{
    AttributeValue, DebuggingInformationEntry, EndianSlice, RunTimeEndian, Section as _, Unit,
    UnitOffset,
};
use object::{Object as _, ObjectSection as _};

use crate::desc::{EnumValue, Field, TypeDesc, flatten_anonymous};

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// How deep type references are followed (a struct in an array in a typedef
/// ... ): as deep as BTF descriptions go.
const MAX_DEPTH: u32 = 32;
/// Members and enumerators read for one description, in all.
const MAX_FIELDS: usize = 4096;

/// The struct named `name` as the object's DWARF describes it (its
/// definition, not a declaration), or `None` when the object has no DWARF
/// or no such struct, or its DWARF is malformed.
pub fn struct_by_name(file: &object::File<'_>, name: &str) -> Option<TypeDesc> {
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader<'_>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    if dwarf.debug_info.reader().is_empty() {
        return None;
    }
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut entries = unit.entries();
        while let Ok(Some((_, entry))) = entries.next_dfs() {
            if entry.tag() == gimli::DW_TAG_structure_type
                && !is_declaration(entry)
                && name_of(&dwarf, &unit, entry).as_deref() == Some(name)
            {
                let mut d = Describer {
                    dwarf: &dwarf,
                    unit: &unit,
                    fields: 0,
                };
                return d.describe(entry.offset(), 0).ok();
            }
        }
    }
    None
}

fn is_declaration(entry: &DebuggingInformationEntry<'_, '_, Reader<'_>>) -> bool {
    matches!(
        entry.attr_value(gimli::DW_AT_declaration),
        Ok(Some(AttributeValue::Flag(true)))
    )
}

fn name_of(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &Unit<Reader<'_>>,
    entry: &DebuggingInformationEntry<'_, '_, Reader<'_>>,
) -> Option<String> {
    let value = entry.attr_value(gimli::DW_AT_name).ok()??;
    let s = dwarf.attr_string(unit, value).ok()?;
    Some(String::from_utf8_lossy(s.slice()).into_owned())
}

fn udata(entry: &DebuggingInformationEntry<'_, '_, Reader<'_>>, at: gimli::DwAt) -> Option<u64> {
    entry.attr_value(at).ok()?.and_then(|v| v.udata_value())
}

struct Describer<'d, 'a> {
    dwarf: &'d gimli::Dwarf<Reader<'a>>,
    unit: &'d Unit<Reader<'a>>,
    fields: usize,
}

#[derive(Debug)]
struct Malformed;

impl Describer<'_, '_> {
    fn entry_type(
        &self,
        entry: &DebuggingInformationEntry<'_, '_, Reader<'_>>,
    ) -> Option<UnitOffset> {
        match entry.attr_value(gimli::DW_AT_type).ok()? {
            Some(AttributeValue::UnitRef(off)) => Some(off),
            _ => None,
        }
    }

    /// The type at `off`, or `void` when a reference is absent.
    fn describe_ref(&mut self, off: Option<UnitOffset>, depth: u32) -> Result<TypeDesc, Malformed> {
        match off {
            Some(off) => self.describe(off, depth + 1),
            None => Ok(TypeDesc::Opaque {
                name: "void".into(),
                size: 0,
            }),
        }
    }

    fn describe(&mut self, off: UnitOffset, depth: u32) -> Result<TypeDesc, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        let entry = self.unit.entry(off).map_err(|_| Malformed)?;
        let name = name_of(self.dwarf, self.unit, &entry).unwrap_or_default();
        let size = udata(&entry, gimli::DW_AT_byte_size)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let tag = entry.tag();
        Ok(match tag {
            gimli::DW_TAG_base_type => {
                let encoding = match entry.attr_value(gimli::DW_AT_encoding) {
                    Ok(Some(AttributeValue::Encoding(e))) => e,
                    _ => gimli::DW_ATE_unsigned,
                };
                if encoding == gimli::DW_ATE_float {
                    TypeDesc::Float { name, size }
                } else {
                    TypeDesc::Int {
                        signed: matches!(
                            encoding,
                            gimli::DW_ATE_signed | gimli::DW_ATE_signed_char
                        ),
                        // As BTF descriptions have it: plain `char` is text.
                        char: size == 1 && name == "char",
                        bool: encoding == gimli::DW_ATE_boolean,
                        name,
                        size,
                    }
                }
            }
            gimli::DW_TAG_typedef => {
                // The name a user wrote wins over the one it stands for
                // (`__u32`, not `unsigned int`), as in BTF descriptions.
                let target = self.entry_type(&entry);
                let mut desc = self.describe_ref(target, depth)?;
                rename(&mut desc, name);
                desc
            }
            gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => {
                let target = self.entry_type(&entry);
                self.describe_ref(target, depth)?
            }
            gimli::DW_TAG_pointer_type => TypeDesc::Pointer {
                name: String::new(),
                size: if size == 0 { 8 } else { size },
            },
            gimli::DW_TAG_array_type => {
                let elem_ref = self.entry_type(&entry);
                let mut elem = self.describe_ref(elem_ref, depth)?;
                // `T a[X][Y]`: one subrange per dimension, the last innermost.
                let mut dims = Vec::new();
                self.children(off, gimli::DW_TAG_subrange_type, |_, e| {
                    let len = udata(e, gimli::DW_AT_count)
                        .or_else(|| udata(e, gimli::DW_AT_upper_bound).map(|u| u.saturating_add(1)))
                        .unwrap_or(0);
                    dims.push(u32::try_from(len).map_err(|_| Malformed)?);
                    Ok(())
                })?;
                for len in dims.into_iter().rev() {
                    elem = TypeDesc::Array {
                        len,
                        elem: Box::new(elem),
                    };
                }
                elem
            }
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
                let fields = flatten_anonymous(self.members(off, depth)?);
                if tag == gimli::DW_TAG_structure_type {
                    TypeDesc::Struct { name, size, fields }
                } else {
                    TypeDesc::Union { name, size, fields }
                }
            }
            gimli::DW_TAG_enumeration_type => {
                let mut values = Vec::new();
                self.children(off, gimli::DW_TAG_enumerator, |d, e| {
                    let value = match e.attr_value(gimli::DW_AT_const_value) {
                        Ok(Some(AttributeValue::Sdata(v))) => v,
                        Ok(Some(v)) => v.udata_value().map(|u| u as i64).unwrap_or(0),
                        _ => 0,
                    };
                    values.push(EnumValue {
                        name: name_of(d.dwarf, d.unit, e).unwrap_or_default(),
                        value,
                    });
                    Ok(())
                })?;
                let signed = match self.entry_type(&entry) {
                    Some(t) => matches!(
                        self.describe(t, depth + 1)?,
                        TypeDesc::Int { signed: true, .. }
                    ),
                    None => values.iter().any(|v| v.value < 0),
                };
                TypeDesc::Enum {
                    name,
                    size,
                    signed,
                    values,
                }
            }
            _ => TypeDesc::Opaque { name, size },
        })
    }

    /// The members of the struct or union at `off`.
    fn members(&mut self, off: UnitOffset, depth: u32) -> Result<Vec<Field>, Malformed> {
        let mut found = Vec::new();
        self.children(off, gimli::DW_TAG_member, |d, e| {
            let name = name_of(d.dwarf, d.unit, e).unwrap_or_default();
            let bits = udata(e, gimli::DW_AT_bit_size).unwrap_or(0);
            // DWARF 4+ bit-fields give their offset in bits from the
            // start; other members their byte offset.
            let bit_start = match udata(e, gimli::DW_AT_data_bit_offset) {
                Some(b) => b,
                None => udata(e, gimli::DW_AT_data_member_location)
                    .unwrap_or(0)
                    .saturating_mul(8),
            };
            found.push((name, bit_start, bits, d.entry_type(e)));
            Ok(())
        })?;
        let mut fields = Vec::with_capacity(found.len());
        for (name, bit_start, bits, ty) in found {
            let offset = u32::try_from(bit_start / 8).map_err(|_| Malformed)?;
            let bits = u32::try_from(bits).map_err(|_| Malformed)?;
            fields.push(Field {
                name,
                offset,
                bit_offset: if bits != 0 { (bit_start % 8) as u32 } else { 0 },
                bits,
                ty: self.describe_ref(ty, depth)?,
            });
        }
        Ok(fields)
    }

    /// Calls `each` with every child of the entry at `off` tagged `tag`,
    /// counting each against [`MAX_FIELDS`].
    fn children(
        &mut self,
        off: UnitOffset,
        tag: gimli::DwTag,
        mut each: impl FnMut(
            &mut Self,
            &DebuggingInformationEntry<'_, '_, Reader<'_>>,
        ) -> Result<(), Malformed>,
    ) -> Result<(), Malformed> {
        let unit = self.unit;
        let mut tree = unit.entries_tree(Some(off)).map_err(|_| Malformed)?;
        let root = tree.root().map_err(|_| Malformed)?;
        let mut children = root.children();
        while let Some(child) = children.next().map_err(|_| Malformed)? {
            let e = child.entry();
            if e.tag() == tag {
                self.count()?;
                each(self, e)?;
            }
        }
        Ok(())
    }

    fn count(&mut self) -> Result<(), Malformed> {
        self.fields += 1;
        if self.fields > MAX_FIELDS {
            return Err(Malformed);
        }
        Ok(())
    }
}

/// Gives `desc` the name a typedef wrote for it.
fn rename(desc: &mut TypeDesc, typedef: String) {
    match desc {
        TypeDesc::Int { name, .. }
        | TypeDesc::Float { name, .. }
        | TypeDesc::Pointer { name, .. }
        | TypeDesc::Struct { name, .. }
        | TypeDesc::Union { name, .. }
        | TypeDesc::Enum { name, .. }
        | TypeDesc::Opaque { name, .. } => *name = typedef,
        TypeDesc::Array { .. } => {}
    }
}
