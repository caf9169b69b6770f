//! C declarations of BTF types, for the kfunc prototypes a `vmlinux.h`
//! needs: kernel functions tagged `bpf_kfunc` are called from BPF programs
//! as `extern` functions (`bpf_task_from_pid`), and bpftool before 7.4
//! leaves their prototypes out of the header it dumps.

use crate::btf::{Btf, Kind};

/// How deep a declarator nests (pointer to array of pointers to ...).
const MAX_DEPTH: u32 = 32;

impl Btf {
    /// `extern` prototypes of the kernel functions tagged `bpf_kfunc`,
    /// sorted by name, guarded as bpftool guards them
    /// (`BPF_NO_KFUNC_PROTOTYPES` leaves them out). Empty when there are
    /// none.
    pub fn kfunc_prototypes(&self) -> String {
        let mut protos: Vec<(String, String)> = Vec::new();
        for id in 1..=self.len() as u32 {
            let Some(Kind::DeclTag {
                target,
                component: -1,
            }) = self.kind(id)
            else {
                continue;
            };
            if self.name_of(id) != "bpf_kfunc" {
                continue;
            }
            let Some(Kind::Func(proto)) = self.kind(*target) else {
                continue;
            };
            let name = self.name_of(*target);
            if name.is_empty() || protos.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(decl) = self.c_decl(*proto, name.to_string(), 0) {
                protos.push((name.to_string(), format!("extern {decl} __weak __ksym;\n")));
            }
        }
        if protos.is_empty() {
            return String::new();
        }
        protos.sort();
        let mut out = String::from(
            "#ifndef BPF_NO_KFUNC_PROTOTYPES\n#ifndef __ksym\n#define __ksym __attribute__((section(\".ksyms\")))\n#endif\n#ifndef __weak\n#define __weak __attribute__((weak))\n#endif\n",
        );
        for (_, p) in protos {
            out.push_str(&p);
        }
        out.push_str("#endif\n");
        out
    }

    /// `ty` declared as `inner` (a name, or a declarator being built:
    /// `*p`, `f(int a)`), the way C spells it; `None` for what C cannot
    /// name (anonymous structs, malformed types).
    fn c_decl(&self, ty: u32, inner: String, depth: u32) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        let spaced = |base: &str, inner: &str| {
            if inner.is_empty() {
                base.to_string()
            } else {
                format!("{base} {inner}")
            }
        };
        let named = |keyword: &str| {
            let name = self.name_of(ty);
            (!name.is_empty()).then(|| spaced(&format!("{keyword}{name}"), &inner))
        };
        match self.kind(ty)? {
            Kind::Void => Some(spaced("void", &inner)),
            Kind::Int { .. } | Kind::Float { .. } | Kind::Typedef(_) => named(""),
            Kind::Struct { .. } | Kind::Fwd { union: false } => named("struct "),
            Kind::Union { .. } | Kind::Fwd { union: true } => named("union "),
            Kind::Enum { .. } => named("enum "),
            Kind::Ptr(target) => {
                let wraps = matches!(
                    self.kind(*target),
                    Some(Kind::FuncProto { .. } | Kind::Array { .. })
                );
                let inner = if wraps {
                    format!("(*{inner})")
                } else {
                    format!("*{inner}")
                };
                self.c_decl(*target, inner, depth + 1)
            }
            Kind::Const(target) | Kind::Volatile(target) | Kind::Restrict(target) => {
                let qualifier = match self.kind(ty)? {
                    Kind::Const(_) => "const",
                    Kind::Volatile(_) => "volatile",
                    _ => "restrict",
                };
                // `const char *p` qualifies the pointee; `char *const p`
                // the pointer.
                if matches!(self.kind(*target), Some(Kind::Ptr(_))) {
                    self.c_decl(*target, spaced(qualifier, &inner), depth + 1)
                } else {
                    self.c_decl(*target, inner, depth + 1)
                        .map(|d| format!("{qualifier} {d}"))
                }
            }
            Kind::TypeTag(target) => self.c_decl(*target, inner, depth + 1),
            Kind::Array { elem, len } => {
                let inner = if inner.starts_with('*') {
                    format!("({inner})[{len}]")
                } else {
                    format!("{inner}[{len}]")
                };
                self.c_decl(*elem, inner, depth + 1)
            }
            Kind::FuncProto { ret, params } => {
                let mut list = Vec::with_capacity(params.len());
                for (name, pty) in params {
                    if *pty == 0 {
                        list.push("...".to_string());
                    } else {
                        list.push(self.c_decl(*pty, self.string(*name).to_string(), depth + 1)?);
                    }
                }
                let list = if list.is_empty() {
                    "void".to_string()
                } else {
                    list.join(", ")
                };
                self.c_decl(*ret, format!("{inner}({list})"), depth + 1)
            }
            _ => None,
        }
    }
}
