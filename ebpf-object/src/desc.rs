//! Types described without reference to any BTF: what image metadata
//! stores for map keys and values, event records and variables, so that a
//! reader needs no BTF to decode them ([`crate::value`] decodes and encodes
//! values of them).

use serde::{Deserialize, Serialize};

/// A type, described without reference to any BTF: what the image metadata
/// stores for map keys and values, event records and variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeDesc {
    Int {
        name: String,
        size: u32,
        signed: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        char: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        bool: bool,
    },
    Float {
        name: String,
        size: u32,
    },
    Pointer {
        name: String,
        size: u32,
    },
    Array {
        len: u32,
        elem: Box<TypeDesc>,
    },
    Struct {
        name: String,
        size: u32,
        fields: Vec<Field>,
    },
    Union {
        name: String,
        size: u32,
        fields: Vec<Field>,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
    /// A type with no decodable layout (functions, forward declarations).
    Opaque {
        name: String,
        size: u32,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    /// Byte offset in the enclosing struct.
    pub offset: u32,
    /// For bit-fields: the first bit inside the byte at `offset`, and the width.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bit_offset: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bits: u32,
    #[serde(rename = "type")]
    pub ty: TypeDesc,
}

/// Members of anonymous structs and unions become members of the enclosing
/// one, as C reads them (`e->saddr_v4`): their fields take the anonymous
/// member's place, at offsets counted from the enclosing struct. Unnamed
/// bit-field padding (`int :3;`) is dropped. `fields` are already flat
/// below (descriptions are built bottom-up), so one level is enough.
pub(crate) fn flatten_anonymous(fields: Vec<Field>) -> Vec<Field> {
    if fields.iter().all(|f| !f.name.is_empty()) {
        return fields;
    }
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        if !f.name.is_empty() {
            out.push(f);
            continue;
        }
        if let TypeDesc::Struct { fields: inner, .. } | TypeDesc::Union { fields: inner, .. } = f.ty
        {
            out.extend(inner.into_iter().map(|mut g| {
                g.offset = g.offset.saturating_add(f.offset);
                g
            }));
        }
    }
    out
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    pub name: String,
    pub value: i64,
}

impl TypeDesc {
    pub fn size(&self) -> u32 {
        match self {
            TypeDesc::Int { size, .. }
            | TypeDesc::Float { size, .. }
            | TypeDesc::Pointer { size, .. }
            | TypeDesc::Struct { size, .. }
            | TypeDesc::Union { size, .. }
            | TypeDesc::Enum { size, .. }
            | TypeDesc::Opaque { size, .. } => *size,
            TypeDesc::Array { len, elem } => len.saturating_mul(elem.size()),
        }
    }

    /// Whether this is a character array, shown and set as text.
    pub fn is_text(&self) -> bool {
        matches!(self, TypeDesc::Array { elem, .. } if matches!(**elem, TypeDesc::Int { size: 1, char: true, .. }))
    }

    /// Whether this is an array of unsigned bytes (`[u8; N]`, `__u8[N]`):
    /// Rust programs keep C strings in them, so they decode as text when
    /// they hold text, else as hex.
    pub(crate) fn is_bytes(&self) -> bool {
        matches!(self, TypeDesc::Array { elem, .. } if matches!(**elem, TypeDesc::Int { size: 1, signed: false, char: false, bool: false, .. }))
    }

    /// The type as C spells it: `__u32`, `char[16]`, `struct event`.
    pub fn c_name(&self) -> String {
        match self {
            TypeDesc::Int { name, .. }
            | TypeDesc::Float { name, .. }
            | TypeDesc::Opaque { name, .. } => name.clone(),
            TypeDesc::Pointer { name, .. } if name.is_empty() => "void *".into(),
            TypeDesc::Pointer { name, .. } => name.clone(),
            TypeDesc::Array { len, elem } => format!("{}[{len}]", elem.c_name()),
            TypeDesc::Struct { name, .. } if name.is_empty() => "struct (anonymous)".into(),
            TypeDesc::Struct { name, .. } => format!("struct {name}"),
            TypeDesc::Union { name, .. } if name.is_empty() => "union (anonymous)".into(),
            TypeDesc::Union { name, .. } => format!("union {name}"),
            TypeDesc::Enum { name, .. } if name.is_empty() => "enum (anonymous)".into(),
            TypeDesc::Enum { name, .. } => format!("enum {name}"),
        }
    }
}
