//! BTF type information: the `.BTF` section of an eBPF object read into a
//! type graph, and a type of it described in the self-contained form of
//! [`TypeDesc`] (see `desc.rs`) that image metadata carries.
//!
//! aya-obj parses BTF for loading but keeps its type accessors private, so
//! this module reads the type section itself, following the kernel's
//! `Documentation/bpf/btf.rst`. The ELF around it is read with `object`.

use std::collections::HashMap;

use crate::desc::{EnumValue, Field, TypeDesc, flatten_anonymous};

/// Why BTF could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("invalid BTF: {0}")]
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> BtfError {
    BtfError::Invalid(why.into())
}

/// One BTF type, as the kernel defines the kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int {
        size: u32,
        signed: bool,
        char: bool,
        bool: bool,
        bits: u32,
    },
    Ptr(u32),
    Array {
        elem: u32,
        len: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<(u32, i64)>,
    },
    /// A forward declaration: of a union, or else of a struct.
    Fwd {
        union: bool,
    },
    Typedef(u32),
    Volatile(u32),
    Const(u32),
    Restrict(u32),
    Func(u32),
    /// A function's type: what it returns and its parameters (name, type;
    /// type 0 for `...`).
    FuncProto {
        ret: u32,
        params: Vec<(u32, u32)>,
    },
    /// A variable: its type, and whether it is global (`static` ones, such
    /// as the format strings of `bpf_printk`, are the program's own).
    Var {
        ty: u32,
        global: bool,
    },
    Datasec(Vec<SecVar>),
    Float {
        size: u32,
    },
    /// `__attribute__((btf_decl_tag("NAME")))` on type `target` (on its
    /// parameter or member `component`, or on all of it when -1).
    DeclTag {
        target: u32,
        component: i32,
    },
    TypeTag(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: u32,
    pub ty: u32,
    pub bit_offset: u32,
    /// Bit-field width; 0 for a whole member.
    pub bits: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecVar {
    pub ty: u32,
    pub offset: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: u32,
    kind: Kind,
}

/// The BTF of an object: types by id (0 is void) and the string table.
#[derive(Debug, Clone)]
pub struct Btf {
    types: Vec<Entry>,
    strings: Vec<u8>,
    by_name: HashMap<String, Vec<u32>>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    big: bool,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, BtfError> {
        let b = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| invalid("type section ends inside a type"))?;
        self.pos += 4;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
}

const MAGIC: u16 = 0xeb9f;

impl Btf {
    /// Parses the contents of a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        if data.len() < 24 {
            return Err(invalid("header too short"));
        }
        let big = match u16::from_le_bytes([data[0], data[1]]) {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            m => return Err(invalid(format!("bad magic {m:#x}"))),
        };
        let mut h = Reader { data, pos: 4, big };
        let hdr_len = h.u32()? as usize;
        let (type_off, type_len) = (h.u32()? as usize, h.u32()? as usize);
        let (str_off, str_len) = (h.u32()? as usize, h.u32()? as usize);
        let section = |off: usize, len: usize, what: &str| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some(s..s.checked_add(len)?))
                .and_then(|r| data.get(r))
                .ok_or_else(|| invalid(format!("{what} section out of bounds")))
        };
        let type_data = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?.to_vec();
        let mut r = Reader {
            data: type_data,
            pos: 0,
            big,
        };
        let mut types = vec![Entry {
            name: 0,
            kind: Kind::Void,
        }];
        while r.pos < type_data.len() {
            types.push(read_type(&mut r)?);
        }
        let mut btf = Btf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        for id in 1..btf.types.len() as u32 {
            let name = btf.name_of(id);
            if !name.is_empty() {
                btf.by_name.entry(name.to_string()).or_default().push(id);
            }
        }
        Ok(btf)
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    pub fn kind(&self, id: u32) -> Option<&Kind> {
        self.types.get(id as usize).map(|e| &e.kind)
    }

    pub(crate) fn string(&self, off: u32) -> &str {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    /// The name of type `id` ("" for anonymous types).
    pub fn name_of(&self, id: u32) -> &str {
        self.types
            .get(id as usize)
            .map_or("", |e| self.string(e.name))
    }

    /// The ids of the types called `name`.
    pub fn ids_by_name(&self, name: &str) -> &[u32] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The struct (or union) called `name`, if there is exactly one.
    pub fn struct_by_name(&self, name: &str) -> Option<u32> {
        let mut found = self.ids_by_name(name).iter().copied().filter(|&id| {
            matches!(
                self.kind(id),
                Some(Kind::Struct { .. } | Kind::Union { .. })
            )
        });
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// The names of the structs whose names `matches` accepts, sorted.
    pub fn struct_names(&self, matches: impl Fn(&str) -> bool) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .by_name
            .iter()
            .filter(|(name, ids)| {
                matches(name)
                    && ids
                        .iter()
                        .any(|&id| matches!(self.kind(id), Some(Kind::Struct { .. })))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// The DATASEC called `name` and its global variables: (variable name,
    /// type id of the variable's type); `static` ones (the format strings
    /// of `bpf_printk`) are left out.
    pub fn datasec_vars(&self, name: &str) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for &id in self.ids_by_name(name) {
            if let Some(Kind::Datasec(vars)) = self.kind(id) {
                for v in vars {
                    if let Some(Kind::Var { ty, global: true }) = self.kind(v.ty) {
                        out.push((self.name_of(v.ty).to_string(), *ty));
                    }
                }
            }
        }
        out
    }

    /// Follows typedefs and qualifiers to the type they name.
    pub fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..64 {
            match self.kind(id) {
                Some(
                    Kind::Typedef(t)
                    | Kind::Volatile(t)
                    | Kind::Const(t)
                    | Kind::Restrict(t)
                    | Kind::TypeTag(t),
                ) => id = *t,
                _ => break,
            }
        }
        id
    }

    /// Size in bytes of a value of type `id`.
    pub fn size_of(&self, id: u32) -> Option<u32> {
        match self.kind(self.resolve(id))? {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Float { size } => Some(*size),
            Kind::Ptr(_) => Some(8),
            Kind::Array { elem, len } => self.size_of(*elem)?.checked_mul(*len),
            _ => None,
        }
    }

    /// A self-contained description of type `id`, with the name a user
    /// wrote for it (the outermost typedef's, if any).
    pub fn describe(&self, id: u32) -> Result<TypeDesc, BtfError> {
        self.describe_depth(id, 0)
    }

    fn describe_depth(&self, id: u32, depth: u32) -> Result<TypeDesc, BtfError> {
        if depth > 32 {
            return Err(invalid(format!("type {id} nests too deeply")));
        }
        let given = self.outer_name(id);
        let rid = self.resolve(id);
        let kind = self
            .kind(rid)
            .ok_or_else(|| invalid(format!("type id {rid} out of range")))?;
        let name = if given.is_empty() {
            self.name_of(rid)
        } else {
            given
        }
        .to_string();
        let fields = |members: &Vec<Member>| -> Result<Vec<Field>, BtfError> {
            members
                .iter()
                .map(|m| {
                    Ok(Field {
                        name: self.string(m.name).to_string(),
                        offset: m.bit_offset / 8,
                        bit_offset: if m.bits != 0 { m.bit_offset % 8 } else { 0 },
                        bits: m.bits,
                        ty: self.describe_depth(m.ty, depth + 1)?,
                    })
                })
                .collect()
        };
        Ok(match kind {
            Kind::Void => TypeDesc::Opaque {
                name: "void".into(),
                size: 0,
            },
            Kind::Int {
                size,
                signed,
                char,
                bool,
                ..
            } => TypeDesc::Int {
                name,
                size: *size,
                signed: *signed,
                char: *char || (*size == 1 && self.name_of(rid) == "char"),
                bool: *bool,
            },
            Kind::Float { size } => TypeDesc::Float { name, size: *size },
            Kind::Ptr(_) => TypeDesc::Pointer { name, size: 8 },
            Kind::Array { elem, len } => TypeDesc::Array {
                len: *len,
                elem: Box::new(self.describe_depth(*elem, depth + 1)?),
            },
            Kind::Struct { size, members } => TypeDesc::Struct {
                name,
                size: *size,
                fields: flatten_anonymous(fields(members)?),
            },
            Kind::Union { size, members } => TypeDesc::Union {
                name,
                size: *size,
                fields: flatten_anonymous(fields(members)?),
            },
            Kind::Enum {
                size,
                signed,
                values,
            } => TypeDesc::Enum {
                name,
                size: *size,
                signed: *signed,
                values: values
                    .iter()
                    .map(|(n, v)| EnumValue {
                        name: self.string(*n).to_string(),
                        value: *v,
                    })
                    .collect(),
            },
            _ => TypeDesc::Opaque {
                name,
                size: self.size_of(rid).unwrap_or(0),
            },
        })
    }

    /// The first name met while following typedefs and qualifiers.
    fn outer_name(&self, mut id: u32) -> &str {
        for _ in 0..64 {
            match self.kind(id) {
                Some(Kind::Typedef(_)) => return self.name_of(id),
                Some(Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) | Kind::TypeTag(t)) => {
                    id = *t
                }
                _ => break,
            }
        }
        ""
    }
}

fn read_type(r: &mut Reader<'_>) -> Result<Entry, BtfError> {
    let name = r.u32()?;
    let info = r.u32()?;
    let size_or_type = r.u32()?;
    let vlen = info & 0xffff;
    let kind_flag = info >> 31 == 1;
    let kind = match (info >> 24) & 0x1f {
        1 => {
            let enc = r.u32()?;
            Kind::Int {
                size: size_or_type,
                signed: (enc >> 24) & 1 != 0,
                char: (enc >> 24) & 2 != 0,
                bool: (enc >> 24) & 4 != 0,
                bits: enc & 0xff,
            }
        }
        2 => Kind::Ptr(size_or_type),
        3 => {
            let elem = r.u32()?;
            let _index = r.u32()?;
            Kind::Array {
                elem,
                len: r.u32()?,
            }
        }
        k @ (4 | 5) => {
            let mut members = Vec::with_capacity(vlen as usize);
            for _ in 0..vlen {
                let (name, ty, off) = (r.u32()?, r.u32()?, r.u32()?);
                let (bit_offset, bits) = if kind_flag {
                    (off & 0xff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                members.push(Member {
                    name,
                    ty,
                    bit_offset,
                    bits,
                });
            }
            if k == 4 {
                Kind::Struct {
                    size: size_or_type,
                    members,
                }
            } else {
                Kind::Union {
                    size: size_or_type,
                    members,
                }
            }
        }
        6 => {
            let mut values = Vec::with_capacity(vlen as usize);
            for _ in 0..vlen {
                let (name, val) = (r.u32()?, r.u32()?);
                let value = if kind_flag {
                    i64::from(val as i32)
                } else {
                    i64::from(val)
                };
                values.push((name, value));
            }
            Kind::Enum {
                size: size_or_type,
                signed: kind_flag,
                values,
            }
        }
        7 => Kind::Fwd { union: kind_flag },
        8 => Kind::Typedef(size_or_type),
        9 => Kind::Volatile(size_or_type),
        10 => Kind::Const(size_or_type),
        11 => Kind::Restrict(size_or_type),
        12 => Kind::Func(size_or_type),
        13 => {
            let mut params = Vec::with_capacity(vlen as usize);
            for _ in 0..vlen {
                params.push((r.u32()?, r.u32()?));
            }
            Kind::FuncProto {
                ret: size_or_type,
                params,
            }
        }
        14 => {
            let linkage = r.u32()?;
            Kind::Var {
                ty: size_or_type,
                // BTF_VAR_STATIC is 0; GLOBAL_ALLOCATED 1, GLOBAL_EXTERN 2.
                global: linkage != 0,
            }
        }
        15 => {
            let mut vars = Vec::with_capacity(vlen as usize);
            for _ in 0..vlen {
                vars.push(SecVar {
                    ty: r.u32()?,
                    offset: r.u32()?,
                    size: r.u32()?,
                });
            }
            Kind::Datasec(vars)
        }
        16 => Kind::Float { size: size_or_type },
        17 => Kind::DeclTag {
            target: size_or_type,
            component: r.u32()? as i32,
        },
        18 => Kind::TypeTag(size_or_type),
        19 => {
            let mut values = Vec::with_capacity(vlen as usize);
            for _ in 0..vlen {
                let (name, lo, hi) = (r.u32()?, r.u32()?, r.u32()?);
                values.push((name, ((u64::from(hi) << 32) | u64::from(lo)) as i64));
            }
            Kind::Enum {
                size: size_or_type,
                signed: kind_flag,
                values,
            }
        }
        k => return Err(invalid(format!("unknown type kind {k}"))),
    };
    Ok(Entry { name, kind })
}

/// Whether a `.BTF.ext` section holds CO-RE relocations (which need the
/// kernel's own BTF at load time).
pub fn ext_has_core_relocs(data: &[u8], big_endian: bool) -> bool {
    // Header: magic u16, version u8, flags u8, hdr_len u32, func_info off/len,
    // line_info off/len, then (when hdr_len allows) core_relo off/len.
    let word = |at: usize| {
        data.get(at..at + 4).map(|b| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        })
    };
    match word(4) {
        Some(hdr_len) if hdr_len >= 32 => word(28).is_some_and(|len| len > 0),
        _ => false,
    }
}
